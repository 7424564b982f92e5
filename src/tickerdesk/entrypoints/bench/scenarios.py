"""What the bench measures: the requests of each measurement, the realistic mix and
its seeding, the fill path, the notification probe and the deep book.

Every measured request goes through a load generator (load.py) in processes of its
own; what this process sends itself is set-up (funding, positions to sell, orders to
cancel, a price move) or a light probe, never the load.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tickerdesk.entrypoints.bench.api import Api, Listener
from tickerdesk.entrypoints.bench.load import Generator, Load, Request
from tickerdesk.entrypoints.bench.server import BenchError, Refused, Server, machine_cpu_seconds

CENT = Decimal("0.01")
FUNDS = 10**9
PER_FILL_USER = 100  # within a user's placement burst (rate_limit_place), so the fill orders are never refused


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT)


def percentile(ordered: list[float], p: float) -> float | None:
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else None


@dataclass
class Notifications:
    """From a placement's 201 to its trade.placed on the user's WebSocket."""

    samples: int
    missing: int
    p50_ms: float | None
    p99_ms: float | None


@dataclass
class Measurement:
    name: str
    kind: str  # floor, read, placement, mix, book
    load: Load
    server_cpu_seconds: float | None
    machine_cpu_seconds: float | None = None  # every process of the machine, the server's included
    notifications: Notifications | None = None


@dataclass
class Fills:
    orders: int
    executed: int
    seconds: float | None  # from the price move to the last trade.executed notification
    error: str | None = None  # the price move's answer, when it was not 200

    @property
    def rate(self) -> float | None:
        return self.executed / self.seconds if self.seconds else None


@dataclass
class Context:
    server: Server
    api: Api
    listener: Listener
    generator: Generator
    concurrency: int
    users: list[str]
    prices: dict[str, Decimal]
    progress: Callable[[str], None]
    run_id: str
    probe_users: list[str] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)

    def token(self, user: str) -> str:
        return self.api.token(user)

    async def measure(self, name: str, kind: str, requests: list[Request], expected: set[int],
                      probe: dict[str, Any] | None = None) -> Measurement:
        """Run `requests` through the generator; with `probe` (an order), place it now and
        then from the probe users and time each one's notification meanwhile."""
        self.progress(f"{name}: {len(requests):,} requests, {self.concurrency} in flight")
        cpu, machine = self.server.cpu_seconds(), machine_cpu_seconds()
        stop = asyncio.Event()
        prober = asyncio.create_task(self._probe(probe, stop)) if probe else None
        try:
            load = await self.generator.run(self.server.url, requests, expected, self.concurrency)
        except BaseException:
            if prober:
                prober.cancel()
            raise
        finally:
            stop.set()
        after, machine_after = self.server.cpu_seconds(), machine_cpu_seconds()
        notifications = await prober if prober else None
        measurement = Measurement(
            name, kind, load, None if cpu is None or after is None else after - cpu,
            machine_cpu_seconds=None if machine is None or machine_after is None else machine_after - machine,
            notifications=notifications)
        self.measurements.append(measurement)
        return measurement

    async def _probe(self, order: dict[str, Any], stop: asyncio.Event, interval: float = 0.05) -> Notifications:
        """A placement every `interval` from the probe users (a light load beside the
        measured one), each timed from its 201 to its trade.placed."""
        answered: dict[str, float] = {}
        pending: set[asyncio.Task[None]] = set()

        async def one(user: str) -> None:
            trade = await self.api.place(user, order)
            answered[trade["tradeId"]] = time.monotonic()

        sent = 0
        while not stop.is_set():
            task = asyncio.create_task(one(self.probe_users[sent % len(self.probe_users)]))
            pending.add(task)
            task.add_done_callback(pending.discard)
            sent += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
        await asyncio.gather(*pending)
        placed = self.listener.placed_at
        await self.listener.until(lambda: all(trade in placed for trade in answered), 15)
        # a notification can beat the 201 to the client: that is no wait at all
        latencies = sorted(max(0.0, placed[t] - at) for t, at in answered.items() if t in placed)
        p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
        return Notifications(len(latencies), len(answered) - len(latencies),
                             None if p50 is None else p50 * 1000, None if p99 is None else p99 * 1000)

    async def settle(self) -> None:
        """Wait for the event pipeline to catch up: a resting order from a probe user, and
        its trade.placed, which the relay publishes after everything before it."""
        trade = await self.api.place(self.probe_users[0], resting_buy(*placement_symbol(self), 1))
        if not await self.listener.until(lambda: trade["tradeId"] in self.listener.placed_at, 120):
            raise BenchError("the event pipeline did not catch up within 120 s")


async def quiesce(ctx: Context, idle_share: float = 0.15, timeout: float = 180) -> float:
    """Wait until the server has done what earlier requests left behind (projections,
    notifications, webhooks: all after the 201s), i.e. until it uses less than
    `idle_share` of a core for a whole second; the seconds it took. What comes next is
    then measured on its own, not beside that backlog."""
    started = time.monotonic()
    before = ctx.server.cpu_seconds()
    if before is None:  # a deployment elsewhere: its CPU is not ours to read
        return 0.0
    while time.monotonic() - started < timeout:
        await asyncio.sleep(1.0)
        after = ctx.server.cpu_seconds()
        if after is None or after - before < idle_share:
            break
        before = after
    return time.monotonic() - started


def resting_buy(symbol: str, limit: Decimal, quantity: int) -> dict[str, Any]:
    return {"stockSymbol": symbol, "quantity": quantity, "tradeType": "buy", "orderType": "limit",
            "limitPrice": limit, "timeInForce": "gtc"}


def healthz(n: int) -> list[Request]:
    return [Request("GET", "/healthz")] * n


def reads(ctx: Context, path: str, n: int, no_cache: bool = False) -> list[Request]:
    """`GET path` (/balance, /portfolio) for each user in turn; with `no_cache`, past the cache."""
    return [Request("GET", path, ctx.token(ctx.users[i % len(ctx.users)]), no_cache=no_cache) for i in range(n)]


def placement_symbol(ctx: Context) -> tuple[str, Decimal]:
    """AAPL (when listed) and a limit far below its price: resting limit buys."""
    symbol = "AAPL" if "AAPL" in ctx.prices else sorted(ctx.prices)[0]
    return symbol, cents(ctx.prices[symbol] * Decimal("0.53"))


def resting_placements(ctx: Context, n: int) -> list[Request]:
    symbol, limit = placement_symbol(ctx)
    return [Request("POST", "/trade/place", ctx.token(ctx.users[i % len(ctx.users)]),
                    resting_buy(symbol, limit, 1 + i % 10)) for i in range(n)]


def deep_book(ctx: Context, n: int) -> list[Request]:
    """Resting buys at half the price, spread over every symbol: the walk never reaches them."""
    symbols = sorted(ctx.prices)
    return [Request("POST", "/trade/place", ctx.token(ctx.users[i % len(ctx.users)]),
                    resting_buy(symbols[i % len(symbols)],
                                cents(ctx.prices[symbols[i % len(symbols)]] * Decimal("0.5")), 1))
            for i in range(n)]


# -- the realistic mix -------------------------------------------------------------

MIX = {  # kind: weight (percent)
    "limit buy, resting": 25,
    "limit buy, marketable": 10,
    "market buy": 15,
    "market sell": 15,
    "limit sell, resting": 15,
    "limit sell, marketable": 10,
    "cancel": 10,
}
SYMBOLS_PER_USER = 4


def fill_symbol(prices: dict[str, Decimal]) -> str:
    """The fill path's symbol: its price moves, so no other measurement uses it."""
    return sorted(s for s in prices if s != "AAPL")[-1]


async def realistic_mix(ctx: Context, n: int, seed: int = 9) -> Measurement:
    """Limit and market, buy and sell, over every symbol but the fill path's, with
    cancels of resting orders. Users first buy the shares they will sell (market
    orders, filled by the venue) and place the orders they will cancel."""
    rng = random.Random(seed)
    symbols = sorted(s for s in ctx.prices if s != fill_symbol(ctx.prices))
    kinds = rng.choices(list(MIX), weights=list(MIX.values()), k=n)
    plan: list[tuple[str, str, str, int]] = []  # (kind, user, symbol, quantity)
    shares: dict[tuple[str, str], int] = defaultdict(int)
    for kind in kinds:
        u = rng.randrange(len(ctx.users))
        symbol = symbols[(u * SYMBOLS_PER_USER + rng.randrange(SYMBOLS_PER_USER)) % len(symbols)]
        quantity = rng.randint(1, 5)
        plan.append((kind, ctx.users[u], symbol, quantity))
        if "sell" in kind:
            shares[ctx.users[u], symbol] += quantity

    ctx.progress(f"realistic mix: seeding {len(shares)} positions and {kinds.count('cancel')} orders to cancel")
    seeds = [Request("POST", "/trade/place", ctx.token(user), {"stockSymbol": symbol, "quantity": quantity,
                                                              "tradeType": "buy", "orderType": "market"})
             for (user, symbol), quantity in shares.items()]
    seeded = await ctx.generator.run(ctx.server.url, seeds, {201}, ctx.concurrency)
    if seeded.errors:
        raise BenchError(f"seeding the mix's positions: {seeded.errors} placements failed ({seeded.unexpected})")
    targets = await asyncio.gather(*(
        ctx.api.place(user, resting_buy(symbol, cents(ctx.prices[symbol] * Decimal("0.8")), quantity))
        for kind, user, symbol, quantity in plan if kind == "cancel"))
    await _until_held(ctx, shares)

    requests, cancels = [], iter(targets)
    for kind, user, symbol, quantity in plan:
        price = ctx.prices[symbol]
        order: dict[str, Any] = {"stockSymbol": symbol, "quantity": quantity,
                                 "tradeType": "sell" if "sell" in kind else "buy",
                                 "orderType": "market" if kind.startswith("market") else "limit"}
        if kind == "cancel":
            requests.append(Request("POST", f"/trade/{next(cancels)['tradeId']}/cancel", ctx.token(user)))
            continue
        if kind == "limit buy, resting":
            order |= {"limitPrice": cents(price * Decimal(rng.uniform(0.94, 0.98))), "timeInForce": "gtc"}
        elif kind == "limit buy, marketable":
            order["limitPrice"] = cents(price * Decimal("1.01"))
        elif kind == "limit sell, resting":
            order |= {"limitPrice": cents(price * Decimal(rng.uniform(1.02, 1.06))), "timeInForce": "gtc"}
        elif kind == "limit sell, marketable":
            order["limitPrice"] = cents(price * Decimal("0.99"))
        requests.append(Request("POST", "/trade/place", ctx.token(user), order))
    return await ctx.measure("realistic mix", "mix", requests, {201, 202})


async def _until_held(ctx: Context, shares: dict[tuple[str, str], int], timeout: float = 120) -> None:
    """Every seeded position filled (the venue fills market orders after the 201)."""
    needed: dict[str, dict[str, int]] = defaultdict(dict)
    for (user, symbol), quantity in shares.items():
        needed[user][symbol] = quantity
    deadline = time.monotonic() + timeout
    while needed:
        held = await asyncio.gather(*(ctx.api.holdings(user) for user in needed))
        for user, holdings in zip(list(needed), held, strict=True):
            if all(holdings.get(symbol, 0) >= quantity for symbol, quantity in needed[user].items()):
                del needed[user]
            elif time.monotonic() > deadline:
                raise BenchError(f"the mix's seed orders did not fill within {timeout:.0f} s: {len(needed)} users "
                                 f"wait, e.g. {user} for {needed[user]}, holding {holdings}")
        await asyncio.sleep(0.2 if needed else 0)


# -- the fill path -----------------------------------------------------------------


def fill_users(run_id: str, orders: int) -> list[str]:
    return [f"fill-{run_id}-{i}" for i in range(max(1, math.ceil(orders / PER_FILL_USER)))]


async def fill_path(ctx: Context, orders: int) -> Fills:
    """`orders` resting limit buys of one symbol, then one price move through all of
    them: how fast execution reports are applied (until the last trade.executed
    reached its user's WebSocket)."""
    symbol = fill_symbol(ctx.prices)
    price = ctx.prices[symbol]
    users = fill_users(ctx.run_id, orders)
    await ctx.listener.connect(users)
    ctx.progress(f"fill path: {orders:,} resting buys of {symbol}, then one price move through them")
    requests = [Request("POST", "/trade/place", ctx.token(users[i % len(users)]),
                        resting_buy(symbol, cents(price * Decimal("0.9")), 1)) for i in range(orders)]
    placed = await ctx.generator.run(ctx.server.url, requests, {201}, ctx.concurrency)
    listener = ctx.listener
    expected = orders - placed.errors
    ctx.progress(f"fill path: {placed.requests:,} placed in {placed.seconds:.1f} s; waiting for their trade.placed")
    await listener.until(lambda: listener.count("trade.placed", symbol) >= expected, 60)
    await ctx.settle()  # the venue has them too
    await asyncio.sleep(0.5)
    working = set(listener.trades["trade.placed", symbol])
    ctx.progress(f"fill path: moving {symbol}'s price through {len(working):,} working orders")
    started, error = time.monotonic(), None
    try:
        await ctx.api.set_price(symbol, cents(price * Decimal("0.85")))
    except Refused as refused:
        if refused.status in (403, 404, 405):
            raise BenchError(f"{refused} (a deployment without the simulated venue: pass --fills 0)") from None
        error = str(refused)  # the move may have happened all the same: count what executes
    ctx.progress(f"fill path: the price move answered after {time.monotonic() - started:.1f} s")
    executed = listener.trades["trade.executed", symbol]
    await listener.until(lambda: working <= executed, max(60.0, len(working) / 20))
    done = [listener.executed_at[t] for t in working & executed]
    return Fills(len(working), len(done), max(done) - started if done else None, error)
