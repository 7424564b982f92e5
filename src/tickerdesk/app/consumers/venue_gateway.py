"""The venue gateway: turns `trade.placed` and `trade.cancelRequested` events into
venue orders and cancels. Repeats are harmless: the venue keeps one order per id."""

from __future__ import annotations

from collections.abc import Sequence

from tickerdesk.app.ports import Venue, VenueOrder
from tickerdesk.domain.events import Event, TradeCancelRequested, TradePlaced
from tickerdesk.domain.orders import Order


def venue_order_for(order: Order) -> VenueOrder:
    """The order as the venue should hold it now: its unfilled remainder. A market buy
    goes out as a limit at its collar (its hold price); a market sell without one."""
    return VenueOrder(
        trade_id=order.trade_id,
        account=order.user_id,
        symbol=order.symbol,
        side=order.side,
        quantity=order.remaining_quantity,
        limit_price=order.limit_price if order.limit_price is not None else order.hold_price,
        time_in_force=order.time_in_force,
        accepted_at=order.created_at,
    )


class VenueGateway:
    def __init__(self, venue: Venue):
        self.venue = venue

    async def handle(self, events: Sequence[Event]) -> None:
        for event in events:
            if isinstance(event, TradePlaced):
                await self.venue.submit(venue_order_for(event.order))
            elif isinstance(event, TradeCancelRequested):
                order = event.order
                await self.venue.cancel(order.trade_id, order.user_id, order.symbol)
