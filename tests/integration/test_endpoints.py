"""Each endpoint does what the contract says."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from tests.conftest import ADMIN, set_price


async def test_stocks_list_at_least_fifty_us_stocks_with_prices(client):
    body = (await client.get("/stocks")).json()
    symbols = {s["symbol"] for s in body["items"]}
    assert len(symbols) >= 50
    assert {"AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "AMD", "KO", "JPM"} <= symbols
    one = (await client.get("/stocks/aapl")).json()
    assert one["symbol"] == "AAPL" and D(str(one["lastPrice"])) > 0
    assert (await client.get("/stocks/NOPE")).status_code == 404


async def test_trades_page_newest_first_and_filter(trader, symbol):
    alice = await trader(100_000)
    stock = await symbol("100")
    ids = [(await alice.place(stockSymbol=stock, quantity=1, limitPrice=90 + i))["tradeId"] for i in range(5)]
    await alice.place(stockSymbol="KO", quantity=1, limitPrice=10)
    first = await alice.get("/trades", stockSymbol=stock, limit=3)
    assert [t["tradeId"] for t in first["items"]] == ids[::-1][:3]
    second = await alice.get("/trades", stockSymbol=stock, limit=3, cursor=first["nextCursor"])
    assert [t["tradeId"] for t in second["items"]] == ids[::-1][3:]
    assert second["nextCursor"] is None
    assert len((await alice.get("/trades", status="pending"))["items"]) == 6
    assert (await alice.get("/trades", status="executed"))["items"] == []


async def test_transaction_history_holds_what_finished_or_filled(trader, symbol, client):
    alice = await trader(100_000)
    stock = await symbol("100")
    pending = await alice.place(stockSymbol=stock, quantity=1, limitPrice=90)
    filled = await alice.place(stockSymbol=stock, quantity=1, orderType="market")
    canceled = await alice.place(stockSymbol=stock, quantity=1, limitPrice=91)
    await alice.cancel(canceled["tradeId"])
    history = await alice.get("/transaction-history")
    ids = [t["tradeId"] for t in history["items"]]
    assert ids == [canceled["tradeId"], filled["tradeId"]]
    assert pending["tradeId"] not in ids
    only = await alice.get("/transaction-history", status="canceled")
    assert [t["tradeId"] for t in only["items"]] == [canceled["tradeId"]]
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (await alice.get("/transaction-history", **{"from": later}))["items"] == []
    assert len((await alice.get("/transaction-history", to=later))["items"]) == 2
    assert len((await alice.get("/transaction-history", tradeType="buy"))["items"]) == 2
    assert (await alice.get("/transaction-history", tradeType="sell"))["items"] == []


async def test_a_trade_shows_its_executions(trader, symbol, client):
    alice = await trader(10_000)
    stock = await symbol("100")
    trade = await alice.place(stockSymbol=stock, quantity=10, limitPrice="99.5", timeInForce="gtc")
    await set_price(client, stock, "99", liquidity=4)
    await set_price(client, stock, "98", liquidity=4)
    await set_price(client, stock, "97", liquidity=4)
    trade = await alice.trade(trade["tradeId"])
    assert [(e["quantity"], e["price"]) for e in trade["executions"]] == [(4, 99), (4, 98), (2, 97)]
    assert trade["status"] == "executed"
    # 4x99 + 4x98 + 2x97 = 982; the average is 98.2
    assert (trade["totalPrice"], trade["averageFillPrice"]) == (982, D("98.2"))
    assert await alice.balance() == (D(10_000) - 982, 0)


async def test_immediate_or_cancel_fills_what_it_can_and_cancels_the_rest(trader, symbol, client):
    alice = await trader(10_000)
    stock = await symbol("100")
    await set_price(client, stock, "100", liquidity=3)
    ioc = await alice.trade(
        (await alice.place(stockSymbol=stock, quantity=10, limitPrice=100, timeInForce="ioc"))["tradeId"]
    )
    assert (ioc["status"], ioc["filledQuantity"]) == ("canceled", 3)
    fok = await alice.trade(
        (await alice.place(stockSymbol=stock, quantity=10, limitPrice=100, timeInForce="fok"))["tradeId"]
    )
    assert (fok["status"], fok["filledQuantity"]) == ("canceled", 0)
    fok = await alice.trade(
        (await alice.place(stockSymbol=stock, quantity=3, limitPrice=100, timeInForce="fok"))["tradeId"]
    )
    assert (fok["status"], fok["filledQuantity"]) == ("executed", 3)
    assert await alice.balance() == (D(10_000) - 600, 0)


@pytest.mark.parametrize(("side", "limit"), [("buy", "9.9999"), ("buy", "1000.0001"), ("sell", "9.99"),
                                           ("sell", "1000.01")])
async def test_a_fat_finger_limit_is_refused_at_placement_and_holds_nothing(trader, symbol, side, limit):
    alice = await trader(100_000)
    stock = await symbol("100")
    if side == "sell":  # shares to sell: bought at the market
        await alice.place(stockSymbol=stock, quantity=2, orderType="market")
    before, holding = await alice.balance(), await alice.holding(stock)
    trades = (await alice.get("/trades"))["items"]
    refused = await alice.place(expect=422, stockSymbol=stock, tradeType=side, quantity=1, limitPrice=limit)
    assert refused["code"] == "price_out_of_band"
    assert "10" in refused["detail"]
    assert (await alice.balance(), await alice.holding(stock)) == (before, holding)
    assert (await alice.get("/trades"))["items"] == trades


async def test_limits_at_the_edges_of_the_band_are_accepted(trader, symbol):
    alice = await trader(10_000)
    stock = await symbol("100")
    low = await alice.place(stockSymbol=stock, quantity=1, limitPrice="10", timeInForce="gtc")
    high = await alice.place(stockSymbol=stock, quantity=1, limitPrice="1000", timeInForce="gtc")
    assert [(await alice.trade(t["tradeId"]))["status"] for t in (low, high)] == ["pending", "executed"]
    assert await alice.balance() == (D(10_000) - 10 - 100, 10)  # the high one filled at the market


async def test_a_market_sell_fills_at_the_market(trader, symbol, client):
    alice = await trader(10_000)
    stock = await symbol("100")
    await alice.place(stockSymbol=stock, quantity=4, orderType="market")
    await set_price(client, stock, "120")
    sale = await alice.trade(
        (await alice.place(stockSymbol=stock, quantity=4, tradeType="sell", orderType="market"))["tradeId"]
    )
    assert (sale["status"], sale["totalPrice"]) == ("executed", 480)
    assert await alice.holding(stock) is None  # sold out: no longer held
    assert await alice.balance() == (D(10_000) - 400 + 480, 0)


async def test_the_ledger_pages_newest_first(trader, client):
    alice = await trader(10)
    for amount in (20, 30):
        await client.post("/admin/deposits", json={"userId": alice.user_id, "amount": amount}, headers=ADMIN)
    await client.post("/admin/withdrawals", json={"userId": alice.user_id, "amount": 5}, headers=ADMIN)
    first = await alice.get("/balance/ledger", limit=2)
    assert [(e["kind"], e["amount"]) for e in first["items"]] == [("withdrawal", 5), ("deposit", 30)]
    rest = await alice.get("/balance/ledger", limit=2, cursor=first["nextCursor"])
    assert [(e["kind"], e["amount"]) for e in rest["items"]] == [("deposit", 20), ("deposit", 10)]
    assert await alice.balance() == (55, 0)


async def test_notifications_resume_after_the_last_seen(trader):
    alice = await trader(10)
    await alice.deposit(5)
    everything = (await alice.get("/notifications"))["items"]
    assert [n["type"] for n in everything] == ["balance.updated", "balance.updated"]
    assert everything[1]["data"]["availableBalance"] == 15
    assert {"id", "type", "userId", "occurredAt", "data", "seq"} <= everything[0].keys()
    after = await alice.get("/notifications", after=everything[0]["seq"])
    assert [n["id"] for n in after["items"]] == [everything[1]["id"]]


async def test_a_user_sees_only_their_own_notifications(trader):
    alice, bob = await trader(10), await trader(20)
    assert {n["userId"] for n in (await alice.get("/notifications"))["items"]} == {alice.user_id}
    assert {n["userId"] for n in (await bob.get("/notifications"))["items"]} == {bob.user_id}


async def test_health_readiness_metrics_and_openapi(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = (await client.get("/readyz")).json()
    assert ready["status"] == "ready" and ready["checks"]["database"] == "ok"
    metrics = (await client.get("/metrics")).text
    assert "tickerdesk_http_request_seconds" in metrics
    assert 'tickerdesk_placements_total{side="buy",type="limit"}' in metrics  # earlier tests placed some
    assert "tickerdesk_outbox_lag_seconds" in metrics and "tickerdesk_open_streams" in metrics
    spec = (await client.get("/openapi.json")).json()
    for path in ("/trade/place", "/trade/{tradeId}", "/trade/{tradeId}/cancel", "/trades", "/transaction-history",
                 "/balance", "/balance/ledger", "/portfolio", "/stocks", "/stocks/{symbol}", "/admin/deposits",
                 "/admin/withdrawals", "/sim/stocks/{symbol}", "/sim/session/close", "/notifications"):
        assert path in spec["paths"], path
    assert "requestBody" in spec["paths"]["/trade/place"]["post"]


async def test_responses_carry_a_request_id(client):
    response = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
