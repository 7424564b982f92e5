"""The whole order lifecycle against hand arithmetic, through the HTTP API."""

from decimal import Decimal as D

from tests.conftest import ADMIN, set_price


async def test_the_whole_lifecycle_matches_hand_arithmetic(trader, symbol, client, runtime):
    alice = await trader(10_000)
    stock = await symbol("100")

    # A limit buy below the market rests, holding quantity x limit.
    resting = await alice.place(stockSymbol=stock, quantity=10, orderType="limit", limitPrice=95)
    assert resting["status"] == "pending"
    assert await alice.balance() == (D("9050"), D("950"))

    # Cancel: canceled when the venue confirms, and the whole hold comes back.
    assert (await alice.cancel(resting["tradeId"]))["cancelRequested"] is True
    canceled = await alice.trade(resting["tradeId"])
    assert canceled["status"] == "canceled"
    assert await alice.balance() == (D("10000"), D("0"))

    # A market buy holds at the +5% collar (105) and fills at the market (100).
    bought = await alice.place(stockSymbol=stock, quantity=10, orderType="market")
    assert bought["holdPrice"] == 105
    bought = await alice.trade(bought["tradeId"])
    assert bought["status"] == "executed"
    assert (bought["filledQuantity"], bought["pricePerShare"], bought["totalPrice"]) == (10, 100, 1000)
    assert await alice.balance() == (D("9000"), D("0"))
    assert (await alice.holding(stock))["averagePurchasePrice"] == 100

    # A partial fill: 20 @ 98 held (1960); the price falls to 97 with liquidity 5.
    partial = await alice.place(stockSymbol=stock, quantity=20, orderType="limit", limitPrice=98, timeInForce="gtc")
    assert await alice.balance() == (D("7040"), D("1960"))
    await set_price(client, stock, "97", liquidity=5)
    partial = await alice.trade(partial["tradeId"])
    assert (partial["status"], partial["filledQuantity"], partial["pricePerShare"]) == ("partiallyExecuted", 5, 97)
    assert len(partial["executions"]) == 1
    # spent 5 x 97 = 485 from the hold; released 5 x (98 - 97) = 5; still held 15 x 98 = 1470.
    assert await alice.balance() == (D("7045"), D("1470"))

    # Cancel after the partial fill: the fills stay, the rest of the hold comes back.
    await alice.cancel(partial["tradeId"])
    partial = await alice.trade(partial["tradeId"])
    assert (partial["status"], partial["filledQuantity"], partial["totalPrice"]) == ("canceled", 5, 485)
    assert await alice.balance() == (D("8515"), D("0"))
    holding = await alice.holding(stock)
    # (10 x 100 + 5 x 97) / 15 = 99
    assert (holding["quantity"], holding["averagePurchasePrice"]) == (15, 99)

    # A sell holds shares; it fills when the price rises through its limit.
    sale = await alice.place(stockSymbol=stock, quantity=5, tradeType="sell", orderType="limit", limitPrice=110)
    assert (await alice.holding(stock))["heldQuantity"] == 5
    await set_price(client, stock, "111")
    sale = await alice.trade(sale["tradeId"])
    assert (sale["status"], sale["pricePerShare"], sale["totalPrice"]) == ("executed", 111, 555)
    assert await alice.balance() == (D("9070"), D("0"))
    holding = await alice.holding(stock)
    # sells leave the average unchanged and realize 5 x (111 - 99) = 60
    assert (holding["quantity"], holding["heldQuantity"], holding["averagePurchasePrice"]) == (10, 0, 99)
    assert holding["realizedPnl"] == 60
    assert (holding["currentPrice"], holding["marketValue"], holding["unrealizedPnl"]) == (111, 1110, 120)

    # Day orders expire at the close; good-till-canceled ones stay.
    day = await alice.place(stockSymbol=stock, quantity=1, orderType="limit", limitPrice=50)
    gtc = await alice.place(stockSymbol=stock, quantity=1, orderType="limit", limitPrice=60, timeInForce="gtc")
    assert await alice.balance() == (D("8960"), D("110"))
    response = await client.post("/sim/session/close", headers=ADMIN)
    assert response.status_code == 200
    assert (await alice.trade(day["tradeId"]))["status"] == "expired"
    assert (await alice.trade(gtc["tradeId"]))["status"] == "pending"
    assert await alice.balance() == (D("9010"), D("60"))

    # The cash journal explains every step.
    ledger = (await alice.get("/balance/ledger", limit=100))["items"]
    kinds = [entry["kind"] for entry in reversed(ledger)]
    assert kinds[:4] == ["deposit", "hold", "release", "hold"]
    assert "sell" in kinds and "buy" in kinds

    # And the user was told about each step, in order.
    types = [n["type"] for n in (await alice.get("/notifications", limit=500))["items"]]
    for expected in ("trade.placed", "trade.canceled", "trade.executed", "trade.partiallyExecuted",
                     "trade.expired", "balance.updated", "portfolio.updated"):
        assert expected in types
    assert "trade.cancelRequested" not in types

    await runtime.settle()
    from tickerdesk.adapters.postgres.verify import verify

    assert await verify(runtime.pool) == []
