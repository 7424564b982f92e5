"""Ask to cancel an open order. The order is `canceled` only when the venue confirms;
fills that arrive before then still count."""

from __future__ import annotations

from dataclasses import replace

from tickerdesk.app.ports import Clock, CommandStore
from tickerdesk.domain.errors import NotCancelable, NotFound
from tickerdesk.domain.events import TradeCancelRequested
from tickerdesk.domain.orders import Order


async def cancel_order(user_id: str, trade_id: str, *, commands: CommandStore, clock: Clock) -> Order:
    async with commands.unit_of_work() as uow:
        order = await uow.lock_order(user_id, trade_id)
        if order is None:
            raise NotFound(f"no trade {trade_id}")
        if not order.is_open:
            raise NotCancelable(f"trade {trade_id} is {order.status}")
        if order.cancel_requested:
            return order  # asking twice is the same request
        now = clock.now()
        order = replace(order, cancel_requested=True, updated_at=now)
        await uow.save_order(order)
        await uow.add_events([TradeCancelRequested(user_id=user_id, occurred_at=now, order=order)])
    return order
