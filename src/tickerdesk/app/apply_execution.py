"""Apply one execution report from the venue: a fill, or the end of an order.

Idempotent: a fill's execution id is recorded with the fill, so a repeated report
finds it and changes nothing; a close for an order that is already closed is a
repeat too. Reports for unknown orders are logged and dropped.
"""

from __future__ import annotations

from datetime import datetime

import structlog

from tickerdesk.adapters.postgres.commands import Commands, UnitOfWork
from tickerdesk.domain.accounting import LedgerEntry, LedgerKind, nonzero
from tickerdesk.domain.events import Event, EventType
from tickerdesk.domain.orders import Order, Side, Status, apply_fill, close_order
from tickerdesk.app.ports import FILL_KINDS, ExecutionReport, ReportKind
from tickerdesk.app.views import balance_view, holding_view, trade_view

log = structlog.get_logger(__name__)

CLOSING = {
    ReportKind.CANCELED: (Status.CANCELED, EventType.TRADE_CANCELED),
    ReportKind.EXPIRED: (Status.EXPIRED, EventType.TRADE_EXPIRED),
    ReportKind.REJECTED: (Status.REJECTED, EventType.TRADE_REJECTED),
}


async def apply_execution(report: ExecutionReport, *, commands: Commands, now: datetime) -> bool:
    """Apply `report`; False when it changed nothing (a repeat, or nothing to do)."""
    if report.kind is ReportKind.NEW:
        return False  # acknowledged; the order is already pending
    async with commands.unit_of_work() as uow:
        order = await uow.lock_order(report.account, report.trade_id)
        if order is None:
            log.warning("report for unknown order", trade_id=report.trade_id, kind=str(report.kind))
            return False
        if report.kind in FILL_KINDS:
            return await _fill(uow, order, report, now)
        return await _close(uow, order, report, now)


async def _fill(uow: UnitOfWork, order: Order, report: ExecutionReport, now: datetime) -> bool:
    if not await uow.record_execution(
        order, report.execution_id, report.last_quantity, report.last_price, report.occurred_at
    ):
        return False
    updated, effect = apply_fill(order, report.last_quantity, report.last_price, now)
    position = await uow.lock_position(order.user_id, order.symbol)
    if order.side is Side.BUY:
        entries = nonzero(
            LedgerEntry(LedgerKind.BUY, effect.spent, order.trade_id),
            LedgerEntry(LedgerKind.RELEASE, effect.released, order.trade_id),
        )
        position = position.bought(effect.shares, effect.price)
    else:
        entries = [LedgerEntry(LedgerKind.SELL, effect.proceeds, order.trade_id)]
        position = position.sold(effect.shares, effect.price)
    balance = await uow.post(order.user_id, entries, order.trade_id, now)
    await uow.save_position(order.user_id, position, now)
    await uow.save_order(updated)
    kind = EventType.TRADE_EXECUTED if updated.status is Status.EXECUTED else EventType.TRADE_PARTIALLY_EXECUTED
    await uow.add_events(
        [
            Event(kind, order.user_id, now, {**trade_view(updated), "lastQuantity": effect.shares,
                                             "lastPrice": effect.price}),
            Event(EventType.BALANCE_UPDATED, order.user_id, now, balance_view(order.user_id, balance)),
            Event(EventType.PORTFOLIO_UPDATED, order.user_id, now, holding_view(position)),
        ]
    )
    return True


async def _close(uow: UnitOfWork, order: Order, report: ExecutionReport, now: datetime) -> bool:
    if not order.is_open:
        return False  # a repeat, or the order filled completely before the close arrived
    status, event_type = CLOSING[report.kind]
    if status is Status.REJECTED and order.filled_quantity:
        status, event_type = Status.CANCELED, EventType.TRADE_CANCELED  # fills stand; the rest is gone
    closed = close_order(order, status, now, report.reason)
    events = [Event(event_type, order.user_id, now, trade_view(closed))]
    if order.side is Side.BUY:
        balance = await uow.post(
            order.user_id, [LedgerEntry(LedgerKind.RELEASE, order.held_cash, order.trade_id)], order.trade_id, now
        )
        events.append(Event(EventType.BALANCE_UPDATED, order.user_id, now, balance_view(order.user_id, balance)))
    else:
        position = (await uow.lock_position(order.user_id, order.symbol)).released(order.held_shares)
        await uow.save_position(order.user_id, position, now)
        events.append(Event(EventType.PORTFOLIO_UPDATED, order.user_id, now, holding_view(position)))
    await uow.save_order(closed)
    await uow.add_events(events)
    return True
