"""Apply one execution report from the venue: a fill, or the end of an order.

Idempotent: a fill's execution id is recorded with the fill, so a repeated report
finds it and changes nothing; a close for an order that is already closed is a
repeat too. Reports for unknown orders are logged and dropped.
"""

from __future__ import annotations

from datetime import datetime

import structlog

from tickerdesk.app.ports import FILL_KINDS, Clock, CommandStore, ExecutionReport, ReportKind, UnitOfWork
from tickerdesk.domain.accounting import LedgerEntry, LedgerKind, nonzero
from tickerdesk.domain.errors import InvalidTransition
from tickerdesk.domain.events import (
    BalanceUpdated,
    Event,
    PortfolioUpdated,
    TradeCanceled,
    TradeEvent,
    TradeExecuted,
    TradeExpired,
    TradePartiallyExecuted,
    TradeRejected,
)
from tickerdesk.domain.orders import Order, Side, Status, apply_fill, close_order

log = structlog.get_logger(__name__)

CLOSING: dict[ReportKind, tuple[Status, type[TradeEvent]]] = {
    ReportKind.CANCELED: (Status.CANCELED, TradeCanceled),
    ReportKind.EXPIRED: (Status.EXPIRED, TradeExpired),
    ReportKind.REJECTED: (Status.REJECTED, TradeRejected),
}


async def apply_execution(report: ExecutionReport, *, commands: CommandStore, clock: Clock) -> bool:
    """Apply `report`; False when it changed nothing (a repeat, or nothing to do)."""
    if report.kind is ReportKind.NEW:
        return False  # acknowledged; the order is already pending
    async with commands.unit_of_work() as uow:
        order = await uow.lock_order(report.account, report.trade_id)
        if order is None:
            log.warning("report for unknown order", trade_id=report.trade_id, kind=str(report.kind))
            return False
        if report.kind in FILL_KINDS:
            return await _fill(uow, order, report, clock.now())
        return await _close(uow, order, report, clock.now())


async def _fill(uow: UnitOfWork, order: Order, report: ExecutionReport, now: datetime) -> bool:
    if report.last_price is None:
        raise InvalidTransition(f"fill {report.execution_id} has no price")
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
    filled = TradeExecuted if updated.status is Status.EXECUTED else TradePartiallyExecuted
    user = order.user_id
    await uow.add_events([
        filled(user_id=user, occurred_at=now, order=updated, last_quantity=effect.shares, last_price=effect.price),
        BalanceUpdated(user_id=user, occurred_at=now, balance=balance),
        PortfolioUpdated(user_id=user, occurred_at=now, position=position),
    ])
    return True


async def _close(uow: UnitOfWork, order: Order, report: ExecutionReport, now: datetime) -> bool:
    if not order.is_open:
        return False  # a repeat, or the order filled completely before the close arrived
    status, closed_event = CLOSING[report.kind]
    if status is Status.REJECTED and order.filled_quantity:
        status, closed_event = Status.CANCELED, TradeCanceled  # fills stand; the rest is gone
    closed = close_order(order, status, now, report.reason)
    user = order.user_id
    events: list[Event] = [closed_event(user_id=user, occurred_at=now, order=closed)]
    if order.side is Side.BUY:
        balance = await uow.post(user, [LedgerEntry(LedgerKind.RELEASE, order.held_cash, order.trade_id)],
                                 order.trade_id, now)
        events.append(BalanceUpdated(user_id=user, occurred_at=now, balance=balance))
    else:
        position = (await uow.lock_position(user, order.symbol)).released(order.held_shares)
        await uow.save_position(user, position, now)
        events.append(PortfolioUpdated(user_id=user, occurred_at=now, position=position))
    await uow.save_order(closed)
    await uow.add_events(events)
    return True
