"""One bench run, in order: PostgreSQL's price (`pgbench -N`), RabbitMQ's (a quorum
queue's messages per second), then tickerdesk's.

Default: a no-op request (`GET /healthz`, the floor of the HTTP stack here), `GET
/balance` and `GET /portfolio` from the cache and past it, resting limit buys (`POST
/trade/place`) with the notification probe, the realistic mix when asked, and the fill
path. `--soak`: placements on an empty book, then a deep one, with the price walk on.
Then `tickerdesk verify`.
"""

from __future__ import annotations

import asyncio
import os
import platform
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

from tickerdesk.entrypoints.bench import scenarios
from tickerdesk.entrypoints.bench.api import Api, Listener
from tickerdesk.entrypoints.bench.broker import BrokerRate, run_broker
from tickerdesk.entrypoints.bench.load import Generator, Request, choose
from tickerdesk.entrypoints.bench.pgbench import Pgbench, run_pgbench
from tickerdesk.entrypoints.bench.scenarios import Context, Fills, Measurement
from tickerdesk.entrypoints.bench.server import Server, Verdict, run_verify, scratch_server

PROBE_USERS = 4
WARM_UP = 500  # requests of each kind before the first measurement (not measured)
READS_PER_ORDER = 4  # the floor and GET /balance: `orders` × this many requests


@dataclass
class Options:
    orders: int = 5000
    concurrency: int = 64
    users: int = 200
    server_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    target: str | None = None  # a running deployment
    secret: str | None = None  # its HS256 secret
    workers: int | None = None  # `tickerdesk up --workers`; None: up's default
    mix: str = "resting"  # or "realistic"
    fills: int = 1000
    soak: bool = False
    soak_orders: int = 100_000
    pgbench_seconds: float = 10
    load_generator: str = "auto"  # auto, wrk, python
    load_processes: int = 2  # Python workers
    broker_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    broker_messages: int = 20_000  # 0: RabbitMQ is not measured


@dataclass
class Soak:
    book_orders: int
    rss_mb_before: float | None
    rss_mb_after: float | None


@dataclass
class Report:
    options: Options
    where: str
    generator: str
    machine: dict[str, object]
    pgbench: Pgbench | None
    broker: BrokerRate | None = None
    measurements: list[Measurement] = field(default_factory=list)
    fills: Fills | None = None
    soak: Soak | None = None
    verify: Verdict | None = None
    seconds: float = 0.0
    websocket_reconnects: int = 0  # streams the server ended, resumed by the bench's listeners
    server_log: str | None = None  # the end of the server's output, when a measurement had errors


def _machine() -> dict[str, object]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(terse=True)}


async def run(options: Options, say: Callable[[str], None] = lambda _: None) -> Report:
    started = time.monotonic()

    def progress(line: str) -> None:
        say(f"{time.monotonic() - started:5.1f} s  {line}")

    generator = choose(options.load_generator, options.load_processes)
    pgbench = None
    if options.pgbench_seconds > 0:
        progress(f"pgbench -N: {options.pgbench_seconds:g} s on {options.server_url}")
        pgbench = await run_pgbench(options.server_url, options.concurrency, options.pgbench_seconds)
    broker = None
    if options.broker_messages > 0:
        progress(f"RabbitMQ: {options.broker_messages:,} messages through a quorum queue")
        broker = await run_broker(options.broker_url, options.broker_messages)
    where = options.target or (f"tickerdesk up --workers {options.workers}" if options.workers
                               else "tickerdesk up")
    report = Report(options, where, generator.name, _machine(), pgbench, broker)
    if options.target:
        if options.secret is None:
            raise ValueError("measuring a running deployment needs its HS256 JWT secret")
        await _measure(Server(options.target.rstrip("/"), options.secret, None), generator, options, report,
                       progress)
        progress("tickerdesk verify (the database this environment configures)")
        report.verify = await run_verify(None)
    else:
        progress("starting " + where + " on a scratch database")
        walk = 1.0 if options.soak else 0.0
        async with scratch_server(options.server_url, options.workers, walk) as server:
            await _measure(server, generator, options, report, progress)
            server.stop()
            if any(m.load.errors for m in report.measurements):
                report.server_log = server.log_tail()
            progress("tickerdesk verify")
            report.verify = await run_verify(server.database_url)
    report.seconds = time.monotonic() - started
    return report


async def _measure(server: Server, generator: Generator, options: Options, report: Report,
                   progress: Callable[[str], None]) -> None:
    run_id = uuid.uuid4().hex[:6]
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(server.url, timeout=timeout,
                                     connector=aiohttp.TCPConnector(limit=options.concurrency)) as session:
        api = Api(session, server.secret, options.concurrency)
        listener = Listener(api, server.url)
        prices = await api.prices()
        users = [f"bench-{run_id}-{u}" for u in range(options.users)]
        probe_users = [f"probe-{run_id}-{u}" for u in range(PROBE_USERS)]
        ctx = Context(server, api, listener, generator, options.concurrency, users, prices, progress, run_id,
                      probe_users, report.measurements)
        fill_users = scenarios.fill_users(run_id, options.fills) if options.fills and not options.soak else []
        progress(f"funding {len(users) + len(probe_users) + len(fill_users)} users")
        await api.fund(users + probe_users + fill_users, scenarios.FUNDS)
        await listener.connect(probe_users)
        try:
            await generator.run(server.url, scenarios.healthz(WARM_UP), {200}, options.concurrency)
            # Placements warm what a first burst pays once (each worker's pool grows to its size,
            # statements are prepared on each connection): measured, that is start-up, not load.
            await generator.run(server.url, scenarios.resting_placements(ctx, min(WARM_UP, options.orders)), {201},
                                options.concurrency)
            probe = scenarios.resting_buy(*scenarios.placement_symbol(ctx), 1)
            reads = READS_PER_ORDER * options.orders  # reads are faster: as long a measurement
            await ctx.measure("GET /healthz (floor)", "floor", scenarios.healthz(reads), {200})
            if options.soak:
                await _soak(ctx, options, report, probe)
                return
            for path in ("/balance", "/portfolio"):  # from the cache, then past it (Cache-Control: no-cache)
                await ctx.measure(f"GET {path}", "read", scenarios.reads(ctx, path, reads), {200})
                await ctx.measure(f"GET {path}, no-cache", "uncached", scenarios.reads(ctx, path, reads, True),
                                  {200})
            await ctx.measure("POST /trade/place", "placement",
                              scenarios.resting_placements(ctx, options.orders), {201}, probe=probe)
            if options.mix == "realistic":
                await ctx.settle()
                await scenarios.realistic_mix(ctx, options.orders)
            if options.fills:
                await ctx.settle()
                report.fills = await scenarios.fill_path(ctx, options.fills)
        finally:
            await listener.close()
            report.websocket_reconnects = listener.reconnects


async def _soak(ctx: Context, options: Options, report: Report, probe: dict[str, object]) -> None:
    """Placements on an empty book, then on a deep one (resting buys at half the price,
    which the walk never reaches), the price walk on all along."""
    requests: list[Request] = scenarios.resting_placements(ctx, options.orders)
    await ctx.measure("place, empty book", "placement", requests, {201}, probe=probe)
    before = ctx.server.rss_mb()
    await ctx.measure(f"book: {options.soak_orders:,} orders", "book",
                      scenarios.deep_book(ctx, options.soak_orders), {201})
    await ctx.settle()  # the venue holds them all: now every tick walks a deep book
    ctx.progress("waiting for the server to finish what the book's placements left behind (projections, "
                 "notifications)")
    waited = await scenarios.quiesce(ctx)
    time_for_ticks = 3.0
    ctx.progress(f"idle after {waited:.0f} s; letting the walk tick over the deep book for {time_for_ticks:g} s")
    await asyncio.sleep(time_for_ticks)
    await ctx.measure("place, deep book", "placement", scenarios.resting_placements(ctx, options.orders),
                      {201}, probe=probe)
    report.soak = Soak(options.soak_orders, before, ctx.server.rss_mb())
