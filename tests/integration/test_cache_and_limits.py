"""The read cache never shows a user a stale balance after their own write, and rate
limits answer 429 with the standard headers."""

from decimal import Decimal as D

from tickerdesk.app.rate_limits import RateLimit


async def test_a_cached_balance_is_dropped_by_the_users_own_writes(trader, runtime):
    alice = await trader(1_000)
    assert await alice.balance() == (D(1000), 0)
    assert await runtime.services.cache.get("balance", alice.user_id) is not None
    await alice.place(stockSymbol="KO", quantity=2, limitPrice=50)
    assert await alice.balance() == (D(900), D(100))  # not the cached 1000
    await alice.deposit(1)
    assert await alice.balance() == (D(901), D(100))


async def test_a_cached_portfolio_is_dropped_by_a_fill_and_valued_at_the_current_price(trader, symbol, client, runtime):
    from tests.conftest import set_price

    alice = await trader(1_000)
    stock = await symbol("10")
    assert await alice.holding(stock) is None
    await alice.place(stockSymbol=stock, quantity=3, orderType="market")
    holding = await alice.holding(stock)
    assert holding["quantity"] == 3 and holding["currentPrice"] == 10
    await set_price(client, stock, "12")
    assert (await alice.holding(stock))["marketValue"] == 36  # cached position, live price


async def test_too_many_requests_get_429_with_retry_after(trader, runtime):
    alice = await trader(1_000)
    saved = runtime.services.limits["read"]
    runtime.services.limits["read"] = RateLimit(rate=0.01, burst=3)
    try:
        responses = [await alice.client.get("/balance", headers=alice.headers) for _ in range(4)]
    finally:
        runtime.services.limits["read"] = saved
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert responses[0].headers["ratelimit-limit"] == "3"
    assert responses[2].headers["ratelimit-remaining"] == "0"
    refused = responses[3]
    assert refused.json()["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1


async def test_rate_limits_are_per_user(trader, runtime):
    alice, bob = await trader(1), await trader(1)
    saved = runtime.services.limits["read"]
    runtime.services.limits["read"] = RateLimit(rate=0.01, burst=1)
    try:
        assert (await alice.client.get("/balance", headers=alice.headers)).status_code == 200
        assert (await alice.client.get("/balance", headers=alice.headers)).status_code == 429
        assert (await bob.client.get("/balance", headers=bob.headers)).status_code == 200
    finally:
        runtime.services.limits["read"] = saved
