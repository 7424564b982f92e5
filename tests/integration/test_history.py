"""The transaction-history read model, built from events: every test runs against both
stores, PostgreSQL (a database of its own) and DynamoDB (a dynalite table of its own),
with the same assertions. docs/history-store.md has the design."""

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from tests.conftest import bearer
from tickerdesk.adapters.postgres.history import PgHistory
from tickerdesk.domain.accounting import Balance
from tickerdesk.domain.events import (
    BalanceUpdated,
    TradeCanceled,
    TradeCancelRequested,
    TradeEvent,
    TradeExecuted,
    TradePartiallyExecuted,
    TradePlaced,
)
from tickerdesk.domain.ids import new_trade_id
from tickerdesk.domain.orders import HISTORY_STATUSES, Order, OrderType, Side, Status, TimeInForce
from tickerdesk.entrypoints.http import page_tokens
from tickerdesk.entrypoints.http.app import create_app

AT = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


@pytest.fixture(params=["postgres", "dynamodb"])
def history(request):
    """The history store under test: each test runs once with each."""
    if request.param == "postgres":
        return PgHistory(request.getfixturevalue("scratch_pool"))
    return request.getfixturevalue("dynamo_history")


def a_trade(user: str, *, symbol: str = "AAPL", at: datetime = AT, trade_id: str | None = None,
            price: str = "100") -> Order:
    return Order(trade_id=trade_id or str(uuid.uuid4()), user_id=user, symbol=symbol, side=Side.BUY,
                 order_type=OrderType.LIMIT, time_in_force=TimeInForce.DAY, quantity=5,
                 limit_price=Decimal(price), hold_price=Decimal(price), status=Status.PENDING,
                 created_at=at, updated_at=at)


def trade_event(cls: type[TradeEvent], order: Order, status: Status, filled: int,
                price: Decimal = Decimal("100")) -> TradeEvent:
    order = replace(order, status=status, filled_quantity=filled, filled_value=filled * price)
    if cls in (TradeExecuted, TradePartiallyExecuted):
        return cls(user_id=order.user_id, occurred_at=AT, order=order, last_quantity=1, last_price=price)
    return cls(user_id=order.user_id, occurred_at=AT, order=order)


def flat(pages: list[list[str]]) -> list[str]:
    return [item for page in pages for item in page]


async def listed(history, user: str, **filters) -> list[dict]:
    query = {"statuses": HISTORY_STATUSES, "symbol": None, "since": None, "until": None, "cursor": None,
             "limit": 10, **filters}
    return await history.trades(user, **query)


async def test_history_follows_the_newest_event_whatever_the_order_they_arrive_in(history):
    trade = a_trade("h1")
    placed = trade_event(TradePlaced, trade, Status.PENDING, 0)
    partial = trade_event(TradePartiallyExecuted, trade, Status.PARTIALLY_EXECUTED, 2)
    done = trade_event(TradeExecuted, trade, Status.EXECUTED, 5)
    await history.project([placed, done])
    await history.project([partial])  # a straggler must not move it back
    await history.project([done, placed])  # nor a replay
    rows = await listed(history, "h1")
    assert [(r["status"], r["filledQuantity"]) for r in rows] == [("executed", 5)]
    assert await history.summary("h1") == {trade.trade_id: ("executed", 5)}


async def test_pending_trades_are_not_history_and_users_see_only_their_own(history):
    mine, theirs, open_one = a_trade("h2"), a_trade("h3"), a_trade("h2")
    await history.project([
        trade_event(TradeCanceled, mine, Status.CANCELED, 0),
        trade_event(TradeExecuted, theirs, Status.EXECUTED, 5),
        trade_event(TradePlaced, open_one, Status.PENDING, 0),
        BalanceUpdated(user_id="h2", occurred_at=AT, balance=Balance(Decimal(1))),
    ])
    rows = await listed(history, "h2", symbol="AAPL")
    assert [r["tradeId"] for r in rows] == [mine.trade_id]
    assert await history.summary("h2") == {mine.trade_id: ("canceled", 0)}


async def test_history_filters_by_side(history):
    bought, sold = a_trade("h4"), replace(a_trade("h4"), side=Side.SELL)
    await history.project([trade_event(TradeExecuted, bought, Status.EXECUTED, 5),
                           trade_event(TradeExecuted, sold, Status.EXECUTED, 5)])

    async def ids(side: str | None) -> list[str]:
        return [r["tradeId"] for r in await listed(history, "h4", side=side)]

    assert await ids("sell") == [sold.trade_id]
    assert await ids("buy") == [bought.trade_id]
    assert sorted(await ids(None)) == sorted([bought.trade_id, sold.trade_id])


async def test_pages_are_full_newest_first_and_filters_that_match_rarely_still_fill_them(history):
    user = f"pages-{uuid.uuid4().hex[:6]}"
    trades = [a_trade(user, symbol="KO" if i % 2 else "MSFT", trade_id=new_trade_id(), at=AT + timedelta(minutes=i))
              for i in range(40)]
    # every fifth one is canceled, the rest executed: a status filter keeps one in five
    await history.project([trade_event(TradeCanceled if i % 5 == 0 else TradeExecuted, t,
                                       Status.CANCELED if i % 5 == 0 else Status.EXECUTED, 0 if i % 5 == 0 else 5)
                           for i, t in enumerate(trades)])
    newest_first = [t.trade_id for t in reversed(trades)]

    async def every_page(limit: int, **filters) -> list[list[str]]:
        pages, cursor = [], None
        while True:
            rows = await listed(history, user, limit=limit, cursor=cursor, **filters)
            pages.append([r["tradeId"] for r in rows])
            if len(rows) < limit:
                return pages
            cursor = rows[-1]["tradeId"]

    pages = await every_page(7)
    assert [len(p) for p in pages] == [7, 7, 7, 7, 7, 5]
    assert flat(pages) == newest_first
    canceled = [t.trade_id for i, t in reversed(list(enumerate(trades))) if i % 5 == 0]
    pages = await every_page(3, statuses=["canceled"])
    assert [len(p) for p in pages] == [3, 3, 2] and flat(pages) == canceled
    ko_canceled = [t.trade_id for i, t in reversed(list(enumerate(trades))) if i % 5 == 0 and i % 2]
    pages = await every_page(2, statuses=["canceled"], symbol="KO")
    assert [len(p) for p in pages] == [2, 2, 0] and flat(pages) == ko_canceled
    window = await listed(history, user, since=AT + timedelta(minutes=10), until=AT + timedelta(minutes=13), limit=50)
    assert [r["tradeId"] for r in window] == [trades[i].trade_id for i in (12, 11, 10)]
    assert await listed(history, user, statuses=[]) == []


async def test_amounts_come_back_exact_and_as_decimals(history):
    user = f"exact-{uuid.uuid4().hex[:6]}"
    price = Decimal("123456789.1234")  # more digits than a float holds exactly
    trade = replace(a_trade(user, price="123456789.1234"), quantity=999_999)
    await history.project([trade_event(TradePartiallyExecuted, trade, Status.PARTIALLY_EXECUTED, 3, price)])
    [row] = await listed(history, user)
    assert row["limitPrice"] == price and isinstance(row["limitPrice"], Decimal)
    assert row["totalPrice"] == 3 * price and isinstance(row["totalPrice"], Decimal)
    assert row["pricePerShare"] == price and not any(isinstance(v, float) for v in row.values())
    assert (row["quantity"], row["filledQuantity"], row["cancelRequested"], row["clientOrderId"]) == (
        999_999, 3, False, None)


async def test_a_rebuild_writes_the_truth_but_never_rolls_back_and_later_events_still_apply(history):
    user = f"rebuild-{uuid.uuid4().hex[:6]}"
    ahead, behind, missing = a_trade(user), a_trade(user), a_trade(user)
    # the store saw `ahead` executed; the truth it is rebuilt from was read a moment before
    await history.project([trade_event(TradeExecuted, ahead, Status.EXECUTED, 5),
                           trade_event(TradePartiallyExecuted, behind, Status.PARTIALLY_EXECUTED, 1)])
    await history.restore([replace(ahead, status=Status.PARTIALLY_EXECUTED, filled_quantity=2),
                           replace(behind, status=Status.CANCELED, filled_quantity=1),
                           replace(missing, status=Status.PARTIALLY_EXECUTED, filled_quantity=4),
                           a_trade(user)])  # pending: not history
    assert await history.summary(user) == {ahead.trade_id: ("executed", 5), behind.trade_id: ("canceled", 1),
                                           missing.trade_id: ("partiallyExecuted", 4)}
    # a stale event (it filled 3 of `missing`) must not undo the rebuilt state; the next one applies
    await history.project([trade_event(TradePartiallyExecuted, missing, Status.PARTIALLY_EXECUTED, 3)])
    assert (await history.summary(user))[missing.trade_id] == ("partiallyExecuted", 4)
    await history.project([trade_event(TradeExecuted, missing, Status.EXECUTED, 5)])
    assert (await history.summary(user))[missing.trade_id] == ("executed", 5)
    await history.restore([replace(missing, status=Status.EXECUTED, filled_quantity=5)])  # again: the same
    assert len(await listed(history, user)) == 3


async def test_ids_and_symbols_of_any_text_never_reach_another_users_history(history):
    # with a naive "user#symbol" key these two pairs would share one
    first, second = a_trade("a#B", symbol="C"), a_trade("a", symbol="B#C")
    await history.project([trade_event(TradeExecuted, first, Status.EXECUTED, 5),
                           trade_event(TradeExecuted, second, Status.EXECUTED, 5)])
    assert [r["tradeId"] for r in await listed(history, "a", symbol="B#C")] == [second.trade_id]
    assert [r["tradeId"] for r in await listed(history, "a#B", symbol="C")] == [first.trade_id]
    assert await listed(history, "a", symbol="C") == []


async def test_every_status_change_is_appended_once_in_order(dynamo_history):
    """DynamoDB keeps each status change as an item of its own (the high-velocity stream)."""
    trade = a_trade(f"log-{uuid.uuid4().hex[:6]}")
    events = [trade_event(TradePlaced, trade, Status.PENDING, 0),
              trade_event(TradeCancelRequested, trade, Status.PENDING, 0),  # not a status change
              trade_event(TradePartiallyExecuted, trade, Status.PARTIALLY_EXECUTED, 2),
              trade_event(TradeExecuted, trade, Status.EXECUTED, 5)]
    await dynamo_history.project(events[::-1])
    await dynamo_history.project(events)  # redelivered: nothing doubles
    changes = await dynamo_history.changes(trade.user_id, trade.trade_id)
    assert [(c["event_type"], c["status"], c["filled"]) for c in changes] == [
        ("trade.placed", "pending", 0), ("trade.partiallyExecuted", "partiallyExecuted", 2),
        ("trade.executed", "executed", 5)]
    assert [c["event_id"] for c in changes] == [e.id for e in (events[0], events[2], events[3])]
    assert changes[1]["last_price"] == Decimal("100") and isinstance(changes[1]["last_price"], Decimal)


# -- through HTTP: the same pages, tokens and refusals with either store ----------------------


@pytest.fixture
async def api(history, settings, runtime):
    """The API with `history` as its history store (the rest as the session's runtime has it)."""
    app = create_app(settings, services=replace(runtime.services, history=history))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://tickerdesk") as client:
        yield client


async def test_page_tokens_are_opaque_and_a_tampered_one_is_a_clear_400(history, api):
    user = f"tokens-{uuid.uuid4().hex[:6]}"
    trades = [a_trade(user, trade_id=new_trade_id()) for _ in range(5)]
    await history.project([trade_event(TradeExecuted, t, Status.EXECUTED, 5) for t in trades])
    seen, cursor, tokens = [], None, []
    while True:
        response = await api.get("/transaction-history", params={"limit": 2, **({"cursor": cursor} if cursor else {})},
                                 headers=bearer(user))
        assert response.status_code == 200, response.text
        body = response.json()
        seen += [t["tradeId"] for t in body["items"]]
        cursor = body["nextCursor"]
        if cursor is None:
            break
        assert cursor not in {t.trade_id for t in trades}  # not a raw key
        tokens.append(cursor)
    assert seen == [t.trade_id for t in reversed(trades)]
    token = tokens[0]
    flipped = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
    for bad in (flipped, token[:-2], token + "x", trades[0].trade_id, "", "not a token", "x" * 201,
                page_tokens.encode("not-a-uuid")):
        response = await api.get("/transaction-history", params={"cursor": bad}, headers=bearer(user))
        assert response.status_code == 400, (bad, response.text)
        problem = response.json()
        assert problem["code"] == "invalid_request" and "cursor" in problem["detail"], problem
        if len(bad) <= page_tokens.MAX_LENGTH and bad:
            assert "nextCursor" in problem["detail"], problem
