"""The `tickerdesk` command."""

from __future__ import annotations

import asyncio
import errno
import os
import shlex
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tickerdesk.config import Settings, SetupError, with_jwt_secret, with_notification_keys
from tickerdesk.entrypoints import processes, trader_cli

app = typer.Typer(help="tickerdesk: the backend of a retail stock brokerage.", no_args_is_help=True)
console = Console()

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Where `up` keeps its database and secret "
                                                                "(default: TICKERDESK_DATA_DIR, else .tickerdesk in "
                                                                "the current directory).")]


def _settings(data_dir: Path | None = None) -> Settings:
    """The settings, `--data-dir` over TICKERDESK_DATA_DIR over the default: the same
    resolution (to an absolute path) for every command."""
    return Settings() if data_dir is None else Settings(data_dir=data_dir)


@contextmanager
def _expected() -> Iterator[None]:
    """An expected condition (see SetupError) is one line on stderr and exit code 2; a
    traceback is for what nobody expected."""
    try:
        yield
    except SetupError as error:
        typer.echo(f"tickerdesk: {error}", err=True)
        raise typer.Exit(2) from None


def _check_port(host: str, port: int) -> None:
    """Bind the port as uvicorn will (SO_REUSEADDR too, so the TIME_WAIT of a last run
    is no obstacle) before anything starts or prints: a port in use is one line saying
    so, not a "serving" banner followed by uvicorn's failure."""
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise SetupError(f"{shown} is already in use (another `tickerdesk up`?): stop what listens there, "
                                 f"or choose another port: make up PORT={port + 1} "
                                 f"(tickerdesk up --port {port + 1})") from None
            raise SetupError(f"cannot listen on {shown} ({error.strerror or error}): choose another interface or "
                             f"port: make up HOST=127.0.0.1 PORT={port} (tickerdesk up --host 127.0.0.1 "
                             f"--port {port})") from None


@app.command()
def up(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    data_dir: DataDir = None,
    workers: Annotated[int, typer.Option(min=1, help="HTTP worker processes on the port, beside one core process "
                                                     "(venue, relay, consumers); 1: everything in one process. "
                                                     "Default: the cores this process may run on.")]
    = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1,
) -> None:
    """Run everything on this machine: API, relay, simulated venue and price feed."""
    import uvicorn

    from tickerdesk.bootstrap import open_up_core, up_app, up_database, up_worker_app
    from tickerdesk.entrypoints.supervisor import serve
    from tickerdesk.logs import configure

    with _expected():
        _check_port(host, port)
    settings = with_notification_keys(with_jwt_secret(_settings(data_dir)))  # kept in the data directory
    if "dev_login" not in settings.model_fields_set:  # trying it out: the web app signs in by user id
        settings = settings.model_copy(update={"dev_login": True})
    # A person reads `up`'s output (the access log too): console text, unless TICKERDESK_LOG_JSON asks.
    log_json = settings.log_json if "log_json" in settings.model_fields_set else False
    configure(settings.log_level, log_json)
    # soft_wrap: a long data directory stays on one line, so the token commands can be copied
    data_dir_option = escape(f"--data-dir {shlex.quote(str(settings.data_dir))}")
    if not settings.database_url:
        console.print(f"[dim]starting the embedded PostgreSQL in {escape(str(settings.data_dir / 'pg'))}[/dim]",
                      soft_wrap=True)
    if workers == 1:
        api = up_app(settings, settings.data_dir)
    else:
        url, stop_database = up_database(settings, settings.data_dir)
    console.print(f"tickerdesk is serving on [bold]http://{host}:{port}[/bold] (OpenAPI: /docs)", soft_wrap=True)
    if settings.dev_login:
        console.print(f"  the web app:    http://{host}:{port}/ (sign in with any user id)", soft_wrap=True)
    console.print(f"  a token:        tickerdesk token alice {data_dir_option}", soft_wrap=True)
    console.print(f"  an admin token: tickerdesk token ops --admin {data_dir_option}", soft_wrap=True)
    if workers > 1:
        console.print(f"  [dim]{workers} HTTP workers and a core process (--workers 1: one process)[/dim]",
                      soft_wrap=True)
        with _expected():
            code = serve(host=host, port=port, workers=workers, open_core=lambda: open_up_core(settings, url, workers),
                         make_app=up_worker_app, log_level=settings.log_level, log_json=log_json,
                         on_stopped=stop_database)
        raise typer.Exit(code)
    # No `server: uvicorn` banner: it tells an attacker what to look up (and the rest of
    # the security headers come from entrypoints/http/security_headers.py).
    uvicorn.run(api, host=host, port=port, log_level="warning", access_log=False, server_header=False)


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

    _production(with_jwt_secret(_settings()))
    uvicorn.run("tickerdesk.bootstrap:api_app", factory=True, host=host, port=port, workers=workers,
                log_level="warning", access_log=False, proxy_headers=True, forwarded_allow_ips="*",
                server_header=False)


@app.command()
def relay() -> None:
    """Publish outbox events to RabbitMQ (also migrates the database at start)."""
    from tickerdesk.bootstrap import run_relay

    processes.run(run_relay(_production(_settings())))


@app.command()
def worker(
    only: Annotated[list[str] | None, typer.Option("--only", help="venue-gateway, executions, notifier, "
                                                                   "history, webhooks, webhook-sender, notifications "
                                                                   "or notification-sender; repeatable.")]
    = None,
) -> None:
    """Event consumers (all of them unless --only)."""
    from tickerdesk.bootstrap import run_workers
    from tickerdesk.entrypoints.processes import WORKERS

    for name in only or []:
        if name not in WORKERS:
            raise typer.BadParameter(f"unknown worker {name!r}; choose from {', '.join(WORKERS)}")
    processes.run(run_workers(_production(_settings()), only))


@app.command("venue-sim")
def venue_sim() -> None:
    """The simulated venue and price feed as a process of its own."""
    from tickerdesk.bootstrap import run_venue_sim

    processes.run(run_venue_sim(_production(_settings())))


@app.command()
def token(
    user: Annotated[str, typer.Argument(help="The user id (the token's sub).")],
    admin: Annotated[bool, typer.Option("--admin", help="Grant the admin scope.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Print a JWT for USER signed with the configured secret (or `up`'s)."""
    from tickerdesk.entrypoints.http.auth import issue_token, user_id_problem

    if problem := user_id_problem(user):  # a token the server would refuse helps nobody
        raise typer.BadParameter(problem, param_hint="USER")
    with _expected():
        settings = with_jwt_secret(_settings(data_dir), create=False)
    if not settings.jwt_secret:
        raise typer.BadParameter("tokens can only be issued with an HS256 secret (TICKERDESK_JWT_SECRET)")
    typer.echo(issue_token(settings.jwt_secret, user, admin=admin))


@app.command()
def migrate(data_dir: DataDir = None) -> None:
    """Bring the database schema to the newest revision."""
    from tickerdesk.bootstrap import database_url, migrate_database

    with _expected():
        asyncio.run(migrate_database(database_url(_settings(data_dir))))
    console.print("schema is up to date")


@app.command()
def verify(data_dir: DataDir = None) -> None:
    """Check every money and share invariant, and that the history store agrees with the
    trades for every user (count, status and fills of each trade); exit 1 naming each violation."""
    from tickerdesk.bootstrap import database_url, verify_database, verify_history

    with _expected():
        settings = _settings(data_dir)
        url = database_url(settings)
        violations = asyncio.run(verify_database(url))
        violations += asyncio.run(verify_history(settings, url))  # eventually consistent: drift, not lag
    if not violations:
        console.print("[green]all invariants hold[/green]")
        console.print(f"[green]the history store ({settings.history_store}) agrees with the trades[/green]")
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
    orders: Annotated[int, typer.Option(min=1, help="Requests per placement measurement (the floor and each "
                                                    "read, cached and not: four times as many).")] = 5000,
    concurrency: Annotated[int, typer.Option(min=1, help="Requests in flight at once (and pgbench's clients, "
                                                         "at most 64).")] = 64,
    users: Annotated[int, typer.Option(min=1, help="Distinct users placing orders.")] = 200,
    server_url: Annotated[str, typer.Option(envvar="TICKERDESK_BENCH_SERVER_URL",
                                            help="A PostgreSQL server to make scratch databases on (and to run "
                                                 "pgbench against).")]
    = "postgresql://postgres@127.0.0.1:5432/postgres",
    target: Annotated[str | None, typer.Option(help="A running deployment to measure instead, e.g. "
                                                    "http://127.0.0.1:8080 (tokens use its JWT secret).")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Passed to `tickerdesk up --workers` (default: up's "
                                                            "own).")] = None,
    mix: Annotated[str, typer.Option(help="resting: resting limit buys only; realistic: also limit and market, "
                                          "buy and sell, many symbols, cancels.")] = "resting",
    fills: Annotated[int, typer.Option(min=0, help="Resting orders filled by one price move, to time the fill "
                                                   "path (0: skip).")] = 1000,
    soak: Annotated[bool, typer.Option("--soak", help="Deep book: placements on an empty book, then after "
                                                      "--soak-orders resting orders, with the price walk on.")]
    = False,
    soak_orders: Annotated[int, typer.Option(min=1, help="Resting orders in the deep book.")] = 100_000,
    pgbench_seconds: Annotated[float, typer.Option(min=0, help="How long pgbench -N runs (0: skip).")] = 10,
    load_generator: Annotated[str, typer.Option(help="auto (wrk when installed), wrk or python.")] = "auto",
    broker_url: Annotated[str, typer.Option(envvar="TICKERDESK_AMQP_URL", help="The RabbitMQ to measure (a quorum "
                                                                               "queue of its own).")]
    = "amqp://guest:guest@127.0.0.1:5672/",
    broker_messages: Annotated[int, typer.Option(min=0, help="Messages through RabbitMQ (0: skip).")] = 20_000,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")] = False,
) -> None:
    """Measure placements per second against pgbench -N and a floor, measured in the same run."""
    import json

    from tickerdesk.entrypoints.bench import BenchError, Options, run
    from tickerdesk.entrypoints.bench.report import as_json as report_json
    from tickerdesk.entrypoints.bench.report import render

    if mix not in ("resting", "realistic"):
        raise typer.BadParameter("choose resting or realistic", param_hint="--mix")
    if load_generator not in ("auto", "wrk", "python"):
        raise typer.BadParameter("choose auto, wrk or python", param_hint="--load-generator")
    if workers is not None and target:
        raise typer.BadParameter("--workers starts `tickerdesk up`; a --target runs already", param_hint="--workers")
    up_workers = next((param for param in typer.main.get_command(app).commands["up"].params  # type: ignore[attr-defined]
                       if "--workers" in param.opts), None)
    if up_workers is None and workers is not None and workers > 1:
        typer.echo("tickerdesk: `tickerdesk up` has no --workers option yet (one process only): "
                   "run bench without --workers, or measure replicas with --target", err=True)
        raise typer.Exit(2)
    if up_workers is not None and workers is None and not target:  # up's own default, named in the report
        workers = up_workers.default() if callable(up_workers.default) else up_workers.default
    with _expected():
        secret = with_jwt_secret(_settings(), create=False).jwt_secret if target else None
    progress = Console(stderr=True)
    options = Options(orders=orders, concurrency=concurrency, users=users, server_url=server_url, target=target,
                      secret=secret, workers=workers if up_workers is not None else None, mix=mix, fills=fills,
                      soak=soak, soak_orders=soak_orders, pgbench_seconds=pgbench_seconds,
                      load_generator=load_generator, broker_url=broker_url, broker_messages=broker_messages)
    try:
        report = asyncio.run(run(options, lambda line: progress.print(f"[dim]{escape(line)}[/dim]",
                                                                      soft_wrap=True)))
    except (BenchError, RuntimeError) as error:
        typer.echo(f"tickerdesk bench: {error}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(report_json(report), indent=2))
    else:  # a table in a file or a pipe is read later, wider than 80 columns
        (console if console.is_terminal else Console(width=150)).print(render(report))
    if report.verify is not None and report.verify.clean is False:
        raise typer.Exit(1)


@trader_cli.history_app.command("rebuild")
def history_rebuild(
    user: Annotated[str | None, typer.Option("--user", help="Only this user's trades (default: everyone's).")]
    = None,
    data_dir: DataDir = None,
) -> None:
    """Re-project the history store from PostgreSQL, the truth.

    The store is the configured one (TICKERDESK_HISTORY_STORE). Safe beside a running
    projector: an entry the store has further along than PostgreSQL's state is kept."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from tickerdesk.bootstrap import database_url, rebuild_history

    with _expected():
        settings = _settings(data_dir)
        url = database_url(settings)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as bar:
            task = bar.add_task(f"rebuilding the {settings.history_store} history", total=None)
            written = asyncio.run(rebuild_history(
                settings, url, user, lambda done, total: bar.update(task, completed=done, total=total)))
    whose = f"of {user} " if user else ""
    console.print(f"[green]{written} trade(s) {whose}re-projected into the {settings.history_store} "
                  "history store[/green]")


# balance, portfolio, place, orders, cancel, history, watch: on the Python SDK.
trader_cli.register(app)


if __name__ == "__main__":
    app()
