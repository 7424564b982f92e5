"""The simulated venue's book by price level: it fills exactly what a naive scan of
every working order would, in price-time priority, while a price update touches only
the levels it crosses and hands the event loop back during a long fill."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tickerdesk.adapters.memory.price_book import MemoryPriceBook
from tickerdesk.adapters.venue.sim import BATCH, SimVenue
from tickerdesk.app.ports import ExecutionReport, ReportKind, VenueOrder
from tickerdesk.domain.orders import Side, TimeInForce, within_price_band

D = Decimal
START = datetime(2026, 11, 30, 14, 30, tzinfo=UTC)


def fields(report: ExecutionReport) -> tuple[object, ...]:
    """What a report says, without when it was made."""
    return (report.execution_id, report.trade_id, report.kind, report.last_quantity, report.last_price,
            report.cumulative_quantity, report.remaining_quantity, report.reason)


# -- the reference: every working order in a list, scanned and sorted at every update -----


@dataclass
class _Resting:
    order: VenueOrder
    cumulative: int = 0

    @property
    def remaining(self) -> int:
        return self.order.quantity - self.cumulative


def _marketable(order: VenueOrder, price: Decimal) -> bool:
    if order.limit_price is None:
        return True
    return price <= order.limit_price if order.side is Side.BUY else price >= order.limit_price


def _priority(resting: _Resting, arrival: int) -> tuple[object, ...]:
    """Market orders first, then the best limit, then the first to arrive."""
    order = resting.order
    if order.limit_price is None:
        return (0, D(0), arrival)
    return (1, -order.limit_price, arrival) if order.side is Side.BUY else (2, order.limit_price, arrival)


@dataclass
class NaiveVenue:
    """The simulated venue's rules (DESIGN.md, "Venue port") written as plainly as they
    read: a linear scan of one list of working orders."""

    prices: dict[str, Decimal]
    resting: list[_Resting] = field(default_factory=list)  # arrival order
    symbols: list[str] = field(default_factory=list)  # the order the venue first held each symbol in
    seen: set[str] = field(default_factory=set)
    liquidity: dict[str, int | None] = field(default_factory=dict)
    closed_at: datetime | None = None
    reports: list[tuple[object, ...]] = field(default_factory=list)

    def _report(self, resting: _Resting, kind: ReportKind, quantity: int = 0, price: Decimal | None = None,
                reason: str | None = None) -> None:
        final = kind in (ReportKind.CANCELED, ReportKind.EXPIRED, ReportKind.REJECTED)
        order = resting.order
        self.reports.append((f"{order.trade_id}.{kind}.{resting.cumulative}", order.trade_id, kind, quantity,
                             price, resting.cumulative, 0 if final else resting.remaining, reason))

    def _fill(self, resting: _Resting, quantity: int, price: Decimal) -> None:
        resting.cumulative += quantity
        self._report(resting, ReportKind.FILL if not resting.remaining else ReportKind.PARTIAL_FILL,
                     quantity, price)

    def _cap(self, resting: _Resting, symbol: str) -> int:
        liquidity = self.liquidity.get(symbol)
        return resting.remaining if liquidity is None else min(resting.remaining, liquidity)

    def _expired(self, order: VenueOrder) -> bool:
        return (order.time_in_force is TimeInForce.DAY and self.closed_at is not None
                and order.accepted_at < self.closed_at)

    def _rest(self, resting: _Resting) -> None:
        self.resting.append(resting)
        if resting.order.symbol not in self.symbols:
            self.symbols.append(resting.order.symbol)

    def submit(self, order: VenueOrder) -> None:
        if order.trade_id in self.seen:
            return
        self.seen.add(order.trade_id)
        resting = _Resting(order)
        if self._expired(order):
            return self._report(resting, ReportKind.EXPIRED, reason="end of day")
        price = self.prices.get(order.symbol)
        if price is None:
            return self._report(resting, ReportKind.REJECTED, reason="unknown symbol")
        if order.limit_price is not None and not within_price_band(order.limit_price, price):
            return self._report(resting, ReportKind.REJECTED, reason="limit price outside the price band")
        self._report(resting, ReportKind.NEW)
        if order.time_in_force is TimeInForce.FOK:
            liquidity = self.liquidity.get(order.symbol)
            if _marketable(order, price) and (liquidity is None or liquidity >= order.quantity):
                return self._fill(resting, order.quantity, price)
            return self._report(resting, ReportKind.CANCELED, reason="fill or kill not filled")
        if _marketable(order, price):
            self._fill(resting, self._cap(resting, order.symbol), price)
        if resting.remaining and order.time_in_force is TimeInForce.IOC:
            self._report(resting, ReportKind.CANCELED, reason="immediate or cancel remainder")
        elif resting.remaining:
            self._rest(resting)

    def cancel(self, trade_id: str) -> None:
        for resting in self.resting:
            if resting.order.trade_id == trade_id:
                self.resting.remove(resting)
                return self._report(resting, ReportKind.CANCELED, reason="canceled by request")

    def tick(self, symbol: str, price: Decimal, liquidity: int | None) -> None:
        self.liquidity[symbol] = liquidity
        self.prices[symbol] = price
        arrival = {id(resting): n for n, resting in enumerate(self.resting)}
        crossed = [r for r in self.resting if r.order.symbol == symbol and _marketable(r.order, price)]
        for resting in sorted(crossed, key=lambda r: _priority(r, arrival[id(r)])):
            self._fill(resting, self._cap(resting, symbol), price)
            if not resting.remaining:
                self.resting.remove(resting)

    def close(self, at: datetime) -> None:
        self.closed_at = at if self.closed_at is None else max(self.closed_at, at)
        for symbol in self.symbols:
            for resting in [r for r in self.resting if r.order.symbol == symbol and self._expired(r.order)]:
                self.resting.remove(resting)
                self._report(resting, ReportKind.EXPIRED, reason="end of day")

    def restart(self) -> None:
        """What a venue-sim restored from its saved book holds: the same orders, in the
        order tickerdesk accepted them."""
        self.resting.sort(key=lambda r: (r.order.accepted_at, r.order.trade_id))
        self.symbols = list(dict.fromkeys(r.order.symbol for r in self.resting))


class Indexed:
    """The real SimVenue, saving its changes after every command as the venue-sim
    process does, so that a restart restores it from what it saved."""

    def __init__(self, prices: dict[str, Decimal]):
        self.reports: list[tuple[object, ...]] = []
        self.prices = MemoryPriceBook(prices)
        self.saved: dict[str, tuple[VenueOrder, int]] = {}
        self.seen: set[str] = set()
        self.sim = self._venue()

    def _venue(self) -> SimVenue:
        async def record(report: ExecutionReport) -> None:
            self.reports.append(fields(report))
        return SimVenue(self.prices, record)

    def save(self) -> None:
        changes = self.sim.drain_changes()
        for trade_id, working in changes["orders"].items():
            self.seen.add(trade_id)
            if working is None:
                self.saved.pop(trade_id, None)
            else:
                self.saved[trade_id] = (working["order"], working["cumulative"])
        self.changes = changes

    def restart(self) -> None:
        self.sim = self._venue()
        self.sim.restore(list(self.saved.values()), set(self.seen), self.changes["liquidity"],
                         self.changes["closedAt"])


# -- random sequences of orders, cancels, price updates, closes and restarts --------------

SYMBOLS = ["AAPL", "MSFT", "ZZZZ"]  # ZZZZ has no price: the venue rejects it
PRICES = [D(95) + D("0.5") * n for n in range(21)]  # 95.0 to 105.0: many orders share a level
LIMITS = st.one_of(st.sampled_from(PRICES), st.sampled_from([D("100.50"), D("100.5000"), D("9.99"), D("1100")]))


@st.composite
def orders(draw: st.DrawFn, number: int, now: datetime) -> VenueOrder:
    side = draw(st.sampled_from(Side))
    market = side is Side.SELL and draw(st.integers(0, 5)) == 0  # a market sell has no limit; a buy, its collar
    return VenueOrder(
        trade_id=f"t-{number:04d}",
        account="alice",
        symbol="ZZZZ" if draw(st.integers(0, 20)) == 0 else draw(st.sampled_from(SYMBOLS[:2])),
        side=side,
        quantity=draw(st.integers(1, 8)),
        limit_price=None if market else draw(LIMITS),
        time_in_force=draw(st.sampled_from(TimeInForce)),
        accepted_at=now - timedelta(seconds=draw(st.integers(0, 3))),  # some were on their way for a while
    )


STEPS = st.sampled_from(["submit"] * 6 + ["tick"] * 4 + ["cancel"] * 2 + ["close", "restart"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
async def test_the_indexed_book_fills_exactly_what_a_scan_of_every_order_fills(data):
    prices = {"AAPL": D(100), "MSFT": D(100)}
    naive, indexed = NaiveVenue(dict(prices)), Indexed(dict(prices))
    submitted: list[VenueOrder] = []
    for step_number in range(data.draw(st.integers(1, 80), label="steps")):
        now = START + timedelta(seconds=step_number)
        step = data.draw(STEPS, label="step")
        if step == "submit":
            order = (data.draw(st.sampled_from(submitted), label="resubmit") if submitted and
                     data.draw(st.integers(0, 15), label="again?") == 0 else
                     data.draw(orders(len(submitted), now), label="order"))
            submitted.append(order)
            naive.submit(order)
            await indexed.sim.submit(order)
        elif step == "cancel" and submitted:
            order = data.draw(st.sampled_from(submitted), label="cancel")
            naive.cancel(order.trade_id)
            await indexed.sim.cancel(order.trade_id, order.account, order.symbol)
        elif step == "tick":
            symbol = data.draw(st.sampled_from(SYMBOLS[:2]), label="symbol")
            price = data.draw(st.sampled_from(PRICES), label="price")
            liquidity = data.draw(st.none() | st.integers(1, 4), label="liquidity")
            naive.tick(symbol, price, liquidity)
            await indexed.sim.set_price(symbol, price, liquidity)
        elif step == "close":
            naive.close(now)
            await indexed.sim.close_session(now)
        indexed.save()
        if step == "restart":
            naive.restart()
            indexed.restart()
        assert indexed.reports == naive.reports
        assert indexed.sim.working_orders() == len(naive.resting)


# -- what a price update costs --------------------------------------------------------------


class CountedPrice(Decimal):
    """A price that counts the comparisons made with it: the work of finding what it crosses."""

    comparisons = 0

    def _count(self) -> None:
        CountedPrice.comparisons += 1

    def __lt__(self, other: object) -> bool:
        self._count()
        return Decimal.__lt__(self, other)

    def __le__(self, other: object) -> bool:
        self._count()
        return Decimal.__le__(self, other)

    def __gt__(self, other: object) -> bool:
        self._count()
        return Decimal.__gt__(self, other)

    def __ge__(self, other: object) -> bool:
        self._count()
        return Decimal.__ge__(self, other)


def deep_book(reports: list[ExecutionReport], count: int = 100_000) -> SimVenue:
    """`count` resting orders on AAPL at 100: buys from 50.00 to 94.99 and sells from 105.01
    to 150.00 (100,000 orders: 4,500 levels a side, 11 or 12 orders on each)."""

    async def record(report: ExecutionReport) -> None:
        reports.append(report)

    venue = SimVenue(MemoryPriceBook({"AAPL": D(100)}), record)
    resting = []
    for n in range(count):
        level = (n // 2) % 4500
        side, limit = (Side.BUY, D(5000 + level) / 100) if n % 2 else (Side.SELL, D(10501 + level) / 100)
        resting.append((VenueOrder(f"t-{n:06d}", "alice", "AAPL", side, 10, limit, TimeInForce.GTC, START), 0))
    venue.restore(resting, set(), {})
    return venue


async def test_a_tick_over_a_deep_book_that_crosses_no_level_costs_a_binary_search_not_a_scan():
    reports: list[ExecutionReport] = []
    venue = deep_book(reports)
    assert venue.working_orders() == 100_000
    CountedPrice.comparisons = 0
    await venue.set_price("AAPL", CountedPrice("101.25"))
    assert reports == []
    # A binary search on each side's 4,500 levels: tens of comparisons, where
    # a scan of the book makes one per order (100,000).
    assert CountedPrice.comparisons <= 100, CountedPrice.comparisons


async def test_a_tick_that_crosses_some_levels_touches_those_and_fills_them_best_first():
    reports: list[ExecutionReport] = []
    venue = deep_book(reports)
    CountedPrice.comparisons = 0
    await venue.set_price("AAPL", CountedPrice("94.97"))  # crosses the buy levels 94.99, 94.98, 94.97
    filled = [(r.trade_id, r.last_price) for r in reports]
    expected = [f"t-{n:06d}" for limit in (9499, 9498, 9497) for n in range(1, 100_000, 2)
                if 5000 + (n // 2) % 4500 == limit]
    assert len(expected) == 33
    assert [trade_id for trade_id, _ in filled] == expected  # best limit first, then first come
    assert {price for _, price in filled} == {D("94.97")}
    assert CountedPrice.comparisons <= 100, CountedPrice.comparisons
    assert venue.working_orders() == 100_000 - len(expected)


async def test_a_tick_that_fills_many_orders_lets_other_work_run_between_batches():
    reports: list[ExecutionReport] = []
    venue = deep_book(reports, count=10 * BATCH)
    ran = 0

    async def request_path() -> None:  # what else the event loop serves: in `tickerdesk up`, the api
        nonlocal ran
        while True:
            ran += 1
            await asyncio.sleep(0)

    other = asyncio.create_task(request_path())
    await asyncio.sleep(0)
    before = ran
    await venue.set_price("AAPL", D(200))  # crosses every sell
    other.cancel()
    assert len([r for r in reports if r.kind is ReportKind.FILL]) == 5 * BATCH
    assert ran - before >= 4, "the tick held the event loop for all of its fills"


async def test_a_restart_keeps_time_priority_in_the_order_tickerdesk_accepted_the_orders():
    reports: list[ExecutionReport] = []

    async def record(report: ExecutionReport) -> None:
        reports.append(report)

    later, earlier = (VenueOrder(trade_id, "alice", "AAPL", Side.BUY, 1, D(99), TimeInForce.GTC, START + offset)
                      for trade_id, offset in (("b-later", timedelta(seconds=1)), ("a-earlier", timedelta(0))))
    venue = SimVenue(MemoryPriceBook({"AAPL": D(100)}), record)
    venue.restore([(later, 0), (earlier, 0)], set(), {})  # a saved book comes back in no particular order
    await venue.set_price("AAPL", D(99))
    assert [r.trade_id for r in reports] == ["a-earlier", "b-later"]
