"""The simulated venue: a matching engine over the simulated price feed.

It stands in for an external exchange. Working orders fill when the price moves
through them, at the current price (at or better than their limit), at most
`liquidity` shares per order per price update. Reports go to the sink one at a
time and in the order the venue made them, so a cancel can never overtake a fill.

The book is indexed by price level (`book.OrderBook`), so a price update costs the
levels it crosses, not the whole book; a tick that fills many orders hands the event
loop back every `BATCH` reports, because in `tickerdesk up` that loop serves the api.
Within one update, orders fill in price-time priority: market orders, then buys from
the highest limit, then sells from the lowest, first come first served within a level.

The trading day ends by time, not by arrival: a close at T expires every `day` order
accepted (by tickerdesk) before T, the ones working now and the ones still on their
way, which expire the moment they arrive; orders accepted from T on are the next day's.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

import structlog

from tickerdesk.adapters.venue.book import OrderBook, Working
from tickerdesk.app.ports import ExecutionReport, PriceBook, ReportKind, ReportSink, VenueOrder
from tickerdesk.domain.errors import DomainError
from tickerdesk.domain.money import MONEY_STEP
from tickerdesk.domain.orders import Side, TimeInForce, within_price_band

log = structlog.get_logger(__name__)

MIN_PRICE = Decimal("0.01")
# Reports made between two yields to the event loop: a few milliseconds of work at most.
BATCH = 256


def _now() -> datetime:
    return datetime.now(UTC)


class SimPrices(PriceBook, Protocol):
    """The simulator walks every price at once, so it needs them all."""

    def snapshot(self) -> dict[str, Decimal]: ...


class SimVenue:
    def __init__(
        self,
        prices: SimPrices,
        sink: ReportSink,
        *,
        on_prices: Callable[[dict[str, Decimal]], object] | None = None,
        seed: int | None = None,
    ):
        self.prices = prices
        self._sink = sink
        self._on_prices = on_prices
        self._books: dict[str, OrderBook] = {}
        self._seen: set[str] = set()
        self._liquidity: dict[str, int | None] = {}
        self._lock = asyncio.Lock()
        self._random = random.Random(seed)
        self._dirty: set[tuple[str, str]] = set()  # (symbol, trade id) changed since drain_changes
        self._closed_at: datetime | None = None  # the last close: when the current day began

    # -- the venue port ---------------------------------------------------------
    async def submit(self, order: VenueOrder) -> None:
        async with self._lock:
            if order.trade_id in self._seen:
                return  # a resubmission: the venue keeps one order per id
            self._seen.add(order.trade_id)
            self._dirty.add((order.symbol, order.trade_id))
            if self._from_a_closed_day(order):  # it was on its way when its day ended
                await self._emit([self._report(Working(order), ReportKind.EXPIRED, reason="end of day")])
                return
            await self._emit(self._arrive(order))

    async def cancel(self, trade_id: str, account: str, symbol: str) -> None:
        async with self._lock:
            book = self._books.get(symbol)
            working = None if book is None else book.remove(trade_id)
            self._dirty.add((symbol, trade_id))
            if working is None:
                return  # already done: a real venue would answer OrderCancelReject
            await self._emit([self._report(working, ReportKind.CANCELED, reason="canceled by request")])

    # -- simulator control ------------------------------------------------------
    async def set_price(self, symbol: str, price: Decimal, liquidity: int | None = None) -> None:
        async with self._lock:
            self._liquidity[symbol] = liquidity
            self.prices.set(symbol, price)
            await self._match(symbol, price)
        self._persist({symbol: price})

    async def close_session(self, at: datetime) -> None:
        """End the trading day at `at`: every `day` order accepted before it expires, now
        or when it arrives; the next day starts at `at`. Closes only move forward, so a
        late close command cannot reopen a day."""
        async with self._lock:
            self._closed_at = at if self._closed_at is None else max(self._closed_at, at)
            reports = []
            for book in self._books.values():
                for working in book.orders():
                    if self._from_a_closed_day(working.order):
                        book.remove(working.order.trade_id)
                        self._dirty.add((working.order.symbol, working.order.trade_id))
                        reports.append(self._report(working, ReportKind.EXPIRED, reason="end of day"))
                        if len(reports) >= BATCH:
                            await self._emit(reports)
                            reports = []
                            await asyncio.sleep(0)
            await self._emit(reports)

    async def walk(self, volatility: Decimal) -> None:
        """One step of the random walk for every symbol, then matching."""
        changes: dict[str, Decimal] = {}
        async with self._lock:
            for symbol, price in self.prices.snapshot().items():
                step = Decimal(f"{self._random.gauss(0, 1):.6f}") * volatility
                new = max(MIN_PRICE, (price * (1 + step)).quantize(MONEY_STEP))
                if new != price:
                    self.prices.set(symbol, new)
                    changes[symbol] = new
                    await self._match(symbol, new)
        self._persist(changes)

    async def run_walk(self, interval: float, volatility: Decimal) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.walk(volatility)
            except Exception:  # the feed must outlive a bad tick
                log.exception("price walk failed")

    def _from_a_closed_day(self, order: VenueOrder) -> bool:
        return (order.time_in_force is TimeInForce.DAY and self._closed_at is not None
                and order.accepted_at < self._closed_at)

    def working_orders(self) -> int:
        return sum(len(book) for book in self._books.values())

    # -- durability (the venue-sim process keeps its book in Redis) --------------
    def drain_changes(self) -> dict:
        """What changed since the last call: orders now working (or gone: None), the
        ids seen, liquidity, prices and the last close. Cheap: proportional to the
        change, not the book."""
        orders = {}
        for symbol, trade_id in self._dirty:
            book = self._books.get(symbol)
            working = None if book is None else book.get(trade_id)
            orders[trade_id] = None if working is None else {
                "order": working.order, "cumulative": working.cumulative}
        self._dirty.clear()
        return {"orders": orders, "liquidity": dict(self._liquidity), "prices": self.prices.snapshot(),
                "closedAt": self._closed_at}

    def restore(self, orders: list[tuple[VenueOrder, int]], seen: set[str], liquidity: dict[str, int | None],
                closed_at: datetime | None = None) -> None:
        # Time priority within a level survives a restart in the order tickerdesk accepted
        # the orders (the saved book does not keep the order they arrived in).
        for order, cumulative in sorted(orders, key=lambda saved: (saved[0].accepted_at, saved[0].trade_id)):
            self._book_of(order.symbol).add(Working(order, cumulative))
        self._seen |= seen | {order.trade_id for order, _ in orders}
        self._liquidity.update(liquidity)
        if closed_at is not None:
            self._closed_at = closed_at if self._closed_at is None else max(self._closed_at, closed_at)

    # -- matching ---------------------------------------------------------------
    def _arrive(self, order: VenueOrder) -> list[ExecutionReport]:
        working = Working(order)
        price = self.prices.last(order.symbol)
        if price is None:
            return [self._report(working, ReportKind.REJECTED, reason="unknown symbol")]
        # The second line behind placement's check: the price may have moved since.
        if order.limit_price is not None and not within_price_band(order.limit_price, price):
            return [self._report(working, ReportKind.REJECTED, reason="limit price outside the price band")]
        reports = [self._report(working, ReportKind.NEW)]
        liquidity = self._liquidity.get(order.symbol)
        if order.time_in_force is TimeInForce.FOK:
            if self._marketable(order, price) and (liquidity is None or liquidity >= order.quantity):
                reports.append(self._fill(working, order.quantity, price))
            else:
                reports.append(self._report(working, ReportKind.CANCELED, reason="fill or kill not filled"))
            return reports
        if self._marketable(order, price):
            reports.append(self._fill(working, self._fillable(working, liquidity), price))
        if working.remaining and order.time_in_force is TimeInForce.IOC:
            reports.append(self._report(working, ReportKind.CANCELED, reason="immediate or cancel remainder"))
        elif working.remaining:
            self._book_of(order.symbol).add(working)
        return reports

    def _book_of(self, symbol: str) -> OrderBook:
        book = self._books.get(symbol)
        if book is None:
            book = self._books[symbol] = OrderBook()
        return book

    async def _match(self, symbol: str, price: Decimal) -> None:
        """Fill what `price`, the symbol's new last price, makes marketable: only the
        levels it crosses, handing the event loop back between batches. The caller holds
        the lock, so nothing else changes the book while this one waits."""
        book = self._books.get(symbol)
        if book is None:
            return
        liquidity = self._liquidity.get(symbol)
        reports = []
        for working in book.crossed(price):
            trade_id = working.order.trade_id
            self._dirty.add((symbol, trade_id))
            reports.append(self._fill(working, self._fillable(working, liquidity), price))
            if not working.remaining:
                book.remove(trade_id)
            if len(reports) >= BATCH:
                await self._emit(reports)
                reports = []
                await asyncio.sleep(0)
        await self._emit(reports)

    @staticmethod
    def _marketable(order: VenueOrder, price: Decimal) -> bool:
        if order.limit_price is None:
            return True
        return price <= order.limit_price if order.side is Side.BUY else price >= order.limit_price

    @staticmethod
    def _fillable(working: Working, liquidity: int | None) -> int:
        return working.remaining if liquidity is None else min(working.remaining, liquidity)

    def _fill(self, working: Working, quantity: int, price: Decimal) -> ExecutionReport:
        working.cumulative += quantity
        kind = ReportKind.FILL if not working.remaining else ReportKind.PARTIAL_FILL
        return self._report(working, kind, quantity, price)

    @staticmethod
    def _report(
        working: Working, kind: ReportKind, quantity: int = 0, price: Decimal | None = None, reason: str | None = None
    ) -> ExecutionReport:
        order = working.order
        return ExecutionReport(
            execution_id=f"{order.trade_id}.{kind}.{working.cumulative}",
            trade_id=order.trade_id,
            account=order.account,
            kind=kind,
            last_quantity=quantity,
            last_price=price,
            cumulative_quantity=working.cumulative,
            remaining_quantity=0 if kind in _FINAL else working.remaining,
            occurred_at=_now(),
            reason=reason,
        )

    async def _emit(self, reports: list[ExecutionReport]) -> None:
        for report in reports:
            await self._deliver(report)

    async def _deliver(self, report: ExecutionReport) -> None:
        """Hand a report to the sink, retrying until it lands: the venue has done what it
        reports, so an outage only delays it. A report the state machine refuses can
        never land and is logged for an operator instead."""
        delay = 0.05
        while True:
            try:
                await self._sink(report)
                return
            except DomainError as error:
                log.error("execution report refused", execution_id=report.execution_id, error=error.detail)
                return
            except Exception:
                log.exception("execution report not applied, retrying", execution_id=report.execution_id)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _persist(self, changes: dict[str, Decimal]) -> None:
        if changes and self._on_prices is not None:
            self._on_prices(changes)


_FINAL = frozenset({ReportKind.CANCELED, ReportKind.EXPIRED, ReportKind.REJECTED})
