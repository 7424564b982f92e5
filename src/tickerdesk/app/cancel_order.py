"""Ask to cancel an open order. The order is `canceled` only when the venue confirms;
fills that arrive before then still count."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from tickerdesk.adapters.postgres.commands import Commands
from tickerdesk.domain.errors import NotCancelable, NotFound
from tickerdesk.domain.events import Event, EventType
from tickerdesk.domain.orders import Order
from tickerdesk.app.views import trade_view


async def cancel_order(user_id: str, trade_id: str, *, commands: Commands, now: datetime) -> Order:
    async with commands.unit_of_work() as uow:
        order = await uow.lock_order(user_id, trade_id)
        if order is None:
            raise NotFound(f"no trade {trade_id}")
        if not order.is_open:
            raise NotCancelable(f"trade {trade_id} is {order.status}")
        if order.cancel_requested:
            return order  # asking twice is the same request
        order = replace(order, cancel_requested=True, updated_at=now)
        await uow.save_order(order)
        await uow.add_events([Event(EventType.TRADE_CANCEL_REQUESTED, user_id, now, trade_view(order))])
    return order
