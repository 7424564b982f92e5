"""Many requests at once, then every invariant."""

import asyncio
import random
from decimal import Decimal as D

from tests.conftest import set_price
from tickerdesk.adapters.postgres.verify import verify


async def test_simultaneous_orders_beyond_the_balance_never_overdraw(trader, symbol, runtime):
    alice = await trader(10_000)
    stock = await symbol("100")
    # 250 orders of 1 share at 97 (hold 97 each, 24,250 in all) against 10,000 of cash.
    responses = await asyncio.gather(
        *(
            alice.client.post(
                "/trade/place",
                json={"stockSymbol": stock, "quantity": 1, "tradeType": "buy", "limitPrice": 97},
                headers=alice.headers,
            )
            for _ in range(250)
        )
    )
    codes = [r.status_code for r in responses]
    placed = codes.count(201)
    assert set(codes) <= {201, 422}
    assert placed == 10_000 // 97  # exactly as many as the cash covers: 103
    assert all(r.json()["code"] == "insufficient_funds" for r in responses if r.status_code == 422)
    assert await alice.balance() == (D(10_000) - placed * 97, placed * 97)
    await runtime.settle()
    assert await verify(runtime.pool) == []


async def test_cancels_racing_fills_lose_no_cent_and_no_share(trader, symbol, client, runtime):
    stock = await symbol("100")
    users = [await trader(50_000) for _ in range(5)]
    sellers = [await trader(50_000) for _ in range(2)]
    # Sellers first buy shares at market, then offer some back.
    for seller in sellers:
        await seller.place(stockSymbol=stock, quantity=200, orderType="market")
    await runtime.settle()
    rng = random.Random(7)
    orders = []
    for _ in range(60):
        user = rng.choice(users)
        trade = await user.place(stockSymbol=stock, quantity=rng.randint(1, 30), orderType="limit",
                                 limitPrice=rng.choice([95, 96, 97, 98, 99]), timeInForce="gtc")
        orders.append((user, trade["tradeId"]))
    for seller in sellers:
        trade = await seller.place(stockSymbol=stock, quantity=50, tradeType="sell", orderType="limit",
                                   limitPrice=rng.choice([101, 102, 103]), timeInForce="gtc")
        orders.append((seller, trade["tradeId"]))

    async def cancels():
        for user, trade_id in rng.sample(orders, len(orders)):
            await user.client.post(f"/trade/{trade_id}/cancel", headers=user.headers)
            await asyncio.sleep(0)

    async def prices():
        for price in ["99", "97", "104", "95", "102", "94", "103", "93"]:
            await set_price(client, stock, price, liquidity=rng.randint(1, 7))
            await asyncio.sleep(0)

    async def more_orders():
        for _ in range(40):
            user = rng.choice(users)
            await user.client.post("/trade/place", headers=user.headers, json={
                "stockSymbol": stock, "quantity": rng.randint(1, 10), "tradeType": "buy",
                "orderType": rng.choice(["limit", "market"]), **({"limitPrice": 96} if rng.random() < 0.5 else {})})

    await asyncio.gather(cancels(), prices(), more_orders(), cancels())
    await runtime.settle()
    assert await verify(runtime.pool) == []
    for user in users + sellers:
        available, held = await user.balance()
        assert available >= 0 and held >= 0
    statuses = {(await user.trade(t))["status"] for user, t in orders}
    assert statuses <= {"canceled", "executed"}  # every order was canceled or filled first
