"""The transaction-history read model: built from events, in a database of its own."""

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from tickerdesk.adapters.postgres.history import PgHistory
from tickerdesk.domain.accounting import Balance
from tickerdesk.domain.events import (
    BalanceUpdated,
    TradeCanceled,
    TradeEvent,
    TradeExecuted,
    TradePartiallyExecuted,
    TradePlaced,
)
from tickerdesk.domain.orders import HISTORY_STATUSES, Order, OrderType, Side, Status, TimeInForce

AT = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def a_trade(user: str) -> Order:
    return Order(trade_id=str(uuid.uuid4()), user_id=user, symbol="AAPL", side=Side.BUY,
                 order_type=OrderType.LIMIT, time_in_force=TimeInForce.DAY, quantity=5,
                 limit_price=Decimal("100"), hold_price=Decimal("100"), status=Status.PENDING,
                 created_at=AT, updated_at=AT)


def trade_event(cls: type[TradeEvent], order: Order, status: Status, filled: int) -> TradeEvent:
    order = replace(order, status=status, filled_quantity=filled, filled_value=filled * Decimal("100"))
    if cls in (TradeExecuted, TradePartiallyExecuted):
        return cls(user_id=order.user_id, occurred_at=AT, order=order, last_quantity=1, last_price=Decimal("100"))
    return cls(user_id=order.user_id, occurred_at=AT, order=order)


async def test_history_follows_the_newest_event_whatever_the_order_they_arrive_in(scratch_pool):
    history = PgHistory(scratch_pool)
    trade = a_trade("h1")
    placed = trade_event(TradePlaced, trade, Status.PENDING, 0)
    partial = trade_event(TradePartiallyExecuted, trade, Status.PARTIALLY_EXECUTED, 2)
    done = trade_event(TradeExecuted, trade, Status.EXECUTED, 5)
    await history.project([placed, done])
    await history.project([partial])  # a straggler must not move it back
    await history.project([done, placed])  # nor a replay
    rows = await history.trades("h1", statuses=HISTORY_STATUSES, symbol=None, since=None, until=None,
                                cursor=None, limit=10)
    assert [(r["status"], r["filledQuantity"]) for r in rows] == [("executed", 5)]


async def test_pending_trades_are_not_history_and_users_see_only_their_own(scratch_pool):
    history = PgHistory(scratch_pool)
    mine, theirs, open_one = a_trade("h2"), a_trade("h3"), a_trade("h2")
    await history.project([
        trade_event(TradeCanceled, mine, Status.CANCELED, 0),
        trade_event(TradeExecuted, theirs, Status.EXECUTED, 5),
        trade_event(TradePlaced, open_one, Status.PENDING, 0),
        BalanceUpdated(user_id="h2", occurred_at=AT, balance=Balance(Decimal(1))),
    ])
    rows = await history.trades("h2", statuses=HISTORY_STATUSES, symbol="AAPL", since=None, until=None,
                                cursor=None, limit=10)
    assert [r["tradeId"] for r in rows] == [mine.trade_id]


async def test_history_filters_by_side(scratch_pool):
    history = PgHistory(scratch_pool)
    bought, sold = a_trade("h4"), replace(a_trade("h4"), side=Side.SELL)
    await history.project([trade_event(TradeExecuted, bought, Status.EXECUTED, 5),
                           trade_event(TradeExecuted, sold, Status.EXECUTED, 5)])

    async def ids(side: str | None) -> list[str]:
        rows = await history.trades("h4", statuses=HISTORY_STATUSES, symbol=None, since=None, until=None,
                                    cursor=None, limit=10, side=side)
        return [r["tradeId"] for r in rows]

    assert await ids("sell") == [sold.trade_id]
    assert await ids("buy") == [bought.trade_id]
    assert sorted(await ids(None)) == sorted([bought.trade_id, sold.trade_id])
