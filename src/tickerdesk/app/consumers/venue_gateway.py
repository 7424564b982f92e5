"""The venue gateway: turns `trade.placed` and `trade.cancelRequested` events into
venue orders and cancels. Repeats are harmless: the venue keeps one order per id."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tickerdesk.app.ports import Venue, VenueOrder
from tickerdesk.domain.events import EventType
from tickerdesk.domain.orders import Order, Side, TimeInForce


def venue_order_from_trade(trade: dict[str, Any]) -> VenueOrder:
    """A market buy goes out as a limit at its collar (`holdPrice`); a market sell without one."""
    limit = trade["limitPrice"] if trade["orderType"] == "limit" else trade["holdPrice"]
    return VenueOrder(
        trade_id=trade["tradeId"],
        account=trade["userId"],
        symbol=trade["stockSymbol"],
        side=Side(trade["tradeType"]),
        quantity=trade["quantity"],
        limit_price=Decimal(limit) if limit is not None else None,
        time_in_force=TimeInForce(trade["timeInForce"]),
    )


def venue_order_from_order(order: Order) -> VenueOrder:
    """The order as the venue should hold it now: its unfilled remainder."""
    return VenueOrder(
        trade_id=order.trade_id,
        account=order.user_id,
        symbol=order.symbol,
        side=order.side,
        quantity=order.remaining_quantity,
        limit_price=order.limit_price if order.limit_price is not None else order.hold_price,
        time_in_force=order.time_in_force,
    )


class VenueGateway:
    def __init__(self, venue: Venue):
        self.venue = venue

    async def handle(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            if event["type"] == EventType.TRADE_PLACED:
                await self.venue.submit(venue_order_from_trade(event["data"]))
            elif event["type"] == EventType.TRADE_CANCEL_REQUESTED:
                trade = event["data"]
                await self.venue.cancel(trade["tradeId"], trade["userId"], trade["stockSymbol"])
