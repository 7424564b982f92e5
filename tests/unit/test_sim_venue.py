"""The simulated venue on its own (no broker, no database): what it reports for the
orders it receives."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tickerdesk.adapters.memory.price_book import MemoryPriceBook
from tickerdesk.adapters.venue.sim import SimVenue
from tickerdesk.app.ports import ExecutionReport, ReportKind, VenueOrder
from tickerdesk.domain.orders import Side, TimeInForce

D = Decimal


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


def order(trade_id: str, limit: str | None, side: Side = Side.BUY, tif: TimeInForce = TimeInForce.GTC) -> VenueOrder:
    return VenueOrder(trade_id, "alice", "AAPL", side, 1, D(limit) if limit else None, tif)


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
