"""The `tickerdesk` command."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tickerdesk.config import Settings

app = typer.Typer(help="tickerdesk: the backend of a retail stock brokerage.", no_args_is_help=True)
console = Console()

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Where `up` keeps its database and secret "
                                                                "(default: TICKERDESK_DATA_DIR or .tickerdesk).")]


def _settings(data_dir: Path | None = None) -> Settings:
    settings = Settings()
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    return settings


def _secret(settings: Settings) -> Settings:
    """The configured HS256 secret, else the one kept in the data directory (made once)."""
    if settings.jwt_secret or settings.jwt_public_key:
        return settings
    path = settings.secret_file
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return settings.model_copy(update={"jwt_secret": path.read_text().strip()})


def _database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    from tickerdesk.adapters.embedded_pg import start_embedded

    console.print(f"[dim]starting the embedded PostgreSQL in {settings.data_dir / 'pg'}[/dim]")
    return start_embedded(settings.data_dir)


@app.command()
def up(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    data_dir: DataDir = None,
) -> None:
    """Run everything in one process: API, relay, simulated venue and price feed."""
    import uvicorn

    from tickerdesk.entrypoints.http.app import create_app
    from tickerdesk.logs import configure
    from tickerdesk.bootstrap import Runtime

    settings = _secret(_settings(data_dir))
    configure(settings.log_level, settings.log_json)
    embedded = None
    if settings.database_url:
        url = settings.database_url
    else:
        from tickerdesk.adapters.embedded_pg import EmbeddedPostgres

        console.print(f"[dim]starting the embedded PostgreSQL in {settings.data_dir / 'pg'}[/dim]")
        embedded = EmbeddedPostgres(settings.data_dir)
        url = embedded.url
    api = create_app(
        settings,
        open_runtime=lambda: Runtime.open(settings, url),
        on_shutdown=embedded.stop if embedded else None,
    )
    console.print(f"tickerdesk is serving on [bold]http://{host}:{port}[/bold] (OpenAPI: /docs)")
    console.print(f"  a token:        tickerdesk token alice --data-dir {settings.data_dir}")
    console.print(f"  an admin token: tickerdesk token ops --admin --data-dir {settings.data_dir}")
    uvicorn.run(api, host=host, port=port, log_level="warning", access_log=False)


def _production(settings: Settings) -> Settings:
    missing = [name for name in ("database_url", "redis_url", "amqp_url") if not getattr(settings, name)]
    if missing:
        raise typer.BadParameter("set " + ", ".join(f"TICKERDESK_{m.upper()}" for m in missing))
    from tickerdesk.logs import configure

    configure(settings.log_level, settings.log_json)
    return settings


@app.command()
def api(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Processes serving this port.")] = 1,
) -> None:
    """A production api replica (stateless; run as many as you like behind nginx)."""
    import uvicorn

    _production(_secret(_settings()))
    uvicorn.run("tickerdesk.entrypoints.http.production:create", factory=True, host=host, port=port, workers=workers,
                log_level="warning", access_log=False, proxy_headers=True, forwarded_allow_ips="*")


@app.command()
def relay() -> None:
    """Publish outbox events to RabbitMQ (also migrates the database at start)."""
    from tickerdesk.entrypoints.processes import prepare_database, run_relay

    settings = _production(_settings())

    async def main() -> None:
        await prepare_database(settings)
        await run_relay(settings)

    asyncio.run(main())


@app.command()
def worker(
    only: Annotated[list[str] | None, typer.Option("--only", help="venue-gateway, executions, notifier, "
                                                                   "history, webhooks or webhook-sender; repeatable.")]
    = None,
) -> None:
    """Event consumers (all of them unless --only)."""
    from tickerdesk.entrypoints.processes import WORKERS, run_workers

    for name in only or []:
        if name not in WORKERS:
            raise typer.BadParameter(f"unknown worker {name!r}; choose from {', '.join(WORKERS)}")
    asyncio.run(run_workers(_production(_settings()), only))


@app.command("venue-sim")
def venue_sim() -> None:
    """The simulated venue and price feed as a process of its own."""
    from tickerdesk.entrypoints.processes import serve_metrics, until_stopped
    from tickerdesk.adapters.venue.sim_process import run_venue_sim

    settings = _production(_settings())
    serve_metrics(settings)
    asyncio.run(until_stopped(run_venue_sim(settings)))


@app.command()
def token(
    user: Annotated[str, typer.Argument(help="The user id (the token's sub).")],
    admin: Annotated[bool, typer.Option("--admin", help="Grant the admin scope.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Print a JWT for USER signed with the configured secret (or `up`'s)."""
    from tickerdesk.entrypoints.http.auth import issue_token

    settings = _secret(_settings(data_dir))
    if not settings.jwt_secret:
        raise typer.BadParameter("tokens can only be issued with an HS256 secret (TICKERDESK_JWT_SECRET)")
    typer.echo(issue_token(settings.jwt_secret, user, admin=admin))


@app.command()
def migrate(data_dir: DataDir = None) -> None:
    """Bring the database schema to the newest revision."""
    from tickerdesk.adapters.postgres.db import migrate as run

    asyncio.run(run(_database_url(_settings(data_dir))))
    console.print("schema is up to date")


@app.command()
def verify(data_dir: DataDir = None) -> None:
    """Check every money and share invariant; exit 1 naming each violation."""
    from tickerdesk.adapters.postgres.verify import verify as run

    async def check():
        import asyncpg

        from tickerdesk.adapters.postgres.db import asyncpg_dsn

        conn = await asyncpg.connect(asyncpg_dsn(_database_url(_settings(data_dir))))
        try:
            return await run(conn)
        finally:
            await conn.close()

    violations = asyncio.run(check())
    if not violations:
        console.print("[green]all invariants hold[/green]")
        return
    for violation in violations:
        console.print(f"[bold red]VIOLATION: {violation.rule}[/bold red]", soft_wrap=True)
        table = Table()
        for column in violation.rows[0]:
            table.add_column(column)
        for row in violation.rows:
            table.add_row(*(str(v) for v in row.values()))
        console.print(table)
    console.print(f"[red]{len(violations)} invariant(s) broken[/red]")
    raise typer.Exit(1)


@app.command()
def bench(
    orders: Annotated[int, typer.Option(help="Requests per measurement.")] = 5000,
    concurrency: Annotated[int, typer.Option(help="Requests in flight at once.")] = 64,
    users: Annotated[int, typer.Option(help="Distinct users placing orders.")] = 200,
    server_url: Annotated[str, typer.Option(envvar="TICKERDESK_BENCH_SERVER_URL",
                                            help="A PostgreSQL server to make a scratch database on.")]
    = "postgresql://postgres@127.0.0.1:5432/postgres",
    target: Annotated[str | None, typer.Option(help="A running deployment to measure instead, e.g. "
                                                    "http://127.0.0.1:8080 (tokens use its JWT secret).")] = None,
) -> None:
    """Measure placements per second against a floor measured in the same run."""
    from tickerdesk.entrypoints.bench import run

    secret = _secret(_settings()).jwt_secret if target else None
    results = asyncio.run(run(server_url, orders, concurrency, users, target, secret))
    floor = results[0].rate
    where = target or "tickerdesk up (one process)"
    table = Table(title=f"tickerdesk bench against {where}: {orders} requests each, {concurrency} in flight, "
                        f"{users} users")
    for column in ("measurement", "req/s", "x floor", "p50 ms", "p99 ms", "failures"):
        table.add_column(column, justify="right" if column != "measurement" else "left")
    for r in results:
        table.add_row(r.name, f"{r.rate:,.0f}", f"{r.rate / floor:.2f}", f"{r.percentile(0.5):.1f}",
                      f"{r.percentile(0.99):.1f}", str(r.failures))
    console.print(table)


if __name__ == "__main__":
    app()
