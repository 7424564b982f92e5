"""The simulated venue on its own (no broker, no database): what it reports for the
orders it receives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tickerdesk.adapters.memory.price_book import MemoryPriceBook
from tickerdesk.adapters.venue.sim import SimVenue
from tickerdesk.app.ports import ExecutionReport, ReportKind, VenueOrder
from tickerdesk.domain.orders import Side, TimeInForce

D = Decimal
CLOSE = datetime(2026, 11, 30, 21, 0, tzinfo=UTC)
BEFORE, AFTER = CLOSE - timedelta(milliseconds=1), CLOSE + timedelta(milliseconds=1)


class Venue:
    """A SimVenue over a price book, recording every report it sends."""

    def __init__(self, prices: dict[str, str]):
        self.reports: list[ExecutionReport] = []
        self.prices = MemoryPriceBook({s: D(p) for s, p in prices.items()})
        self.sim = SimVenue(self.prices, self._record)

    async def _record(self, report: ExecutionReport) -> None:
        self.reports.append(report)

    def kinds(self, trade_id: str) -> list[ReportKind]:
        return [r.kind for r in self.reports if r.trade_id == trade_id]


def order(trade_id: str, limit: str | None, side: Side = Side.BUY, tif: TimeInForce = TimeInForce.GTC,
          accepted_at: datetime = BEFORE) -> VenueOrder:
    return VenueOrder(trade_id, "alice", "AAPL", side, 1, D(limit) if limit else None, tif, accepted_at)


@pytest.mark.parametrize(("side", "limit"), [(Side.BUY, "9.99"), (Side.BUY, "1000.01"), (Side.SELL, "9.99"),
                                           (Side.SELL, "1000.01")])
async def test_the_venue_rejects_a_limit_outside_the_band_as_a_second_line(side, limit):
    # The price moved after placement checked the band: the venue checks it again.
    venue = Venue({"AAPL": "100"})
    await venue.sim.submit(order("t-1", limit, side))
    assert venue.kinds("t-1") == [ReportKind.REJECTED]
    assert venue.reports[0].reason == "limit price outside the price band"
    assert venue.sim.working_orders() == 0


async def test_the_venue_takes_limits_at_the_edges_of_the_band():
    venue = Venue({"AAPL": "100"})
    await venue.sim.submit(order("low", "10"))
    await venue.sim.submit(order("high", "1000", Side.SELL))
    assert venue.kinds("low") == venue.kinds("high") == [ReportKind.NEW]


# -- the end of the trading day: defined by when an order was accepted -------------------


async def test_a_day_order_accepted_before_the_close_expires_even_if_it_arrives_after_it():
    venue = Venue({"AAPL": "100"})
    await venue.sim.close_session(CLOSE)
    await venue.sim.submit(order("late", "90", tif=TimeInForce.DAY, accepted_at=BEFORE))
    assert venue.kinds("late") == [ReportKind.EXPIRED]
    assert venue.reports[-1].reason == "end of day"
    assert venue.sim.working_orders() == 0


async def test_a_marketable_day_order_accepted_before_the_close_does_not_fill_after_it():
    venue = Venue({"AAPL": "100"})
    await venue.sim.close_session(CLOSE)
    await venue.sim.submit(order("late", "110", tif=TimeInForce.DAY, accepted_at=BEFORE))
    assert venue.kinds("late") == [ReportKind.EXPIRED]


async def test_orders_accepted_after_the_close_belong_to_the_next_day():
    venue = Venue({"AAPL": "100"})
    # One accepted after the close reached the venue before the close command did.
    await venue.sim.submit(order("early-next-day", "90", tif=TimeInForce.DAY, accepted_at=AFTER))
    await venue.sim.close_session(CLOSE)
    await venue.sim.submit(order("next-day", "90", tif=TimeInForce.DAY, accepted_at=AFTER))
    assert venue.kinds("early-next-day") == venue.kinds("next-day") == [ReportKind.NEW]
    assert venue.sim.working_orders() == 2


async def test_the_close_expires_working_day_orders_and_leaves_other_orders():
    venue = Venue({"AAPL": "100"})
    await venue.sim.submit(order("day", "90", tif=TimeInForce.DAY))
    await venue.sim.submit(order("gtc", "90", tif=TimeInForce.GTC))
    await venue.sim.close_session(CLOSE)
    await venue.sim.submit(order("late-gtc", "90", tif=TimeInForce.GTC))  # accepted before: GTC lives on
    assert venue.kinds("day") == [ReportKind.NEW, ReportKind.EXPIRED]
    assert venue.kinds("gtc") == venue.kinds("late-gtc") == [ReportKind.NEW]


async def test_each_close_ends_the_day_that_began_at_the_one_before():
    venue = Venue({"AAPL": "100"})
    await venue.sim.close_session(CLOSE)
    await venue.sim.close_session(CLOSE + timedelta(days=1))
    await venue.sim.close_session(CLOSE)  # a close from the past (a slow replica) moves nothing back
    await venue.sim.submit(order("day-two", "90", tif=TimeInForce.DAY, accepted_at=AFTER))
    assert venue.kinds("day-two") == [ReportKind.EXPIRED]


async def test_the_close_time_is_part_of_the_saved_book_and_comes_back_on_restore():
    venue = Venue({"AAPL": "100"})
    await venue.sim.close_session(CLOSE)
    saved = venue.sim.drain_changes()
    restarted = Venue({"AAPL": "100"})
    restarted.sim.restore([], set(), {}, saved["closedAt"])
    await restarted.sim.submit(order("late", "90", tif=TimeInForce.DAY, accepted_at=BEFORE))
    assert restarted.kinds("late") == [ReportKind.EXPIRED]
