"""The transaction-history read model: built from events, in a database of its own."""

import uuid

from tickerdesk.adapters.postgres.history import HistoryStore
from tickerdesk.domain.orders import HISTORY_STATUSES
from tickerdesk.domain.events import new_event_id


def trade_event(kind: str, trade: dict, status: str, filled: int) -> dict:
    return {"id": new_event_id(), "type": kind, "userId": trade["userId"], "occurredAt": "2026-11-28T10:00:00Z",
            "data": {**trade, "status": status, "filledQuantity": filled}}


def a_trade(user: str) -> dict:
    return {"tradeId": str(uuid.uuid4()), "userId": user, "stockSymbol": "AAPL", "quantity": 5,
            "createdAt": "2026-11-28T10:00:00Z", "updatedAt": "2026-11-28T10:00:00Z", "tradeType": "buy"}


async def test_history_follows_the_newest_event_whatever_the_order_they_arrive_in(scratch_pool):
    history = HistoryStore(scratch_pool)
    trade = a_trade("h1")
    placed = trade_event("trade.placed", trade, "pending", 0)
    partial = trade_event("trade.partiallyExecuted", trade, "partiallyExecuted", 2)
    done = trade_event("trade.executed", trade, "executed", 5)
    await history.project([placed, done])
    await history.project([partial])  # a straggler must not move it back
    await history.project([done, placed])  # nor a replay
    rows = await history.trades("h1", statuses=HISTORY_STATUSES, symbol=None, since=None, until=None,
                                cursor=None, limit=10)
    assert [(r["status"], r["filledQuantity"]) for r in rows] == [("executed", 5)]


async def test_pending_trades_are_not_history_and_users_see_only_their_own(scratch_pool):
    history = HistoryStore(scratch_pool)
    mine, theirs, open_one = a_trade("h2"), a_trade("h3"), a_trade("h2")
    await history.project([
        trade_event("trade.canceled", mine, "canceled", 0),
        trade_event("trade.executed", theirs, "executed", 5),
        trade_event("trade.placed", open_one, "pending", 0),
        {"id": new_event_id(), "type": "balance.updated", "userId": "h2", "occurredAt": "2026-11-28T10:00:00Z",
         "data": {"availableBalance": 1}},
    ])
    rows = await history.trades("h2", statuses=HISTORY_STATUSES, symbol="AAPL", since=None, until=None,
                                cursor=None, limit=10)
    assert [r["tradeId"] for r in rows] == [mine["tradeId"]]
