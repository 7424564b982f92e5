"""Cache hits and misses of the cached views are visible in /metrics, so an operator
sees whether the cache earns its keep."""

from __future__ import annotations

import re


async def cache_reads(client, view: str, result: str) -> float:
    text = (await client.get("/metrics")).text
    found = re.search(rf'^tickerdesk_cache_reads_total{{result="{result}",view="{view}"}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


async def test_a_second_read_is_a_hit_and_a_change_makes_the_next_a_miss(client, trader):
    alice = await trader(1000)
    for view, read in (("balance", alice.balance), ("portfolio", lambda: alice.get("/portfolio"))):
        hits, misses = await cache_reads(client, view, "hit"), await cache_reads(client, view, "miss")
        await read()
        await read()
        assert await cache_reads(client, view, "miss") == misses + 1
        assert await cache_reads(client, view, "hit") == hits + 1
    await alice.deposit(5)  # drops the cached balance
    misses = await cache_reads(client, "balance", "miss")
    await alice.balance()
    assert await cache_reads(client, "balance", "miss") == misses + 1



async def test_cache_control_no_cache_reads_the_database_past_a_stored_value(client, trader, runtime):
    """A stored balance the database does not agree with (planted here; in life, a
    value an operator doubts) is what plain reads get; a `no-cache` read gets the
    database's, counts as a bypass, and stores it for the reads after."""
    alice = await trader(1000)
    cache = runtime.services.cache
    truth = (await client.get("/balance", headers=alice.headers)).json()
    stale = {**truth, "availableBalance": "1.00", "totalBalance": "1.00"}
    await cache.put("balance", alice.user_id, stale, version=await cache.version(alice.user_id))
    assert (await client.get("/balance", headers=alice.headers)).json() == stale
    bypasses = await cache_reads(client, "balance", "bypass")
    fresh = await client.get("/balance", headers={**alice.headers, "Cache-Control": "no-cache"})
    assert fresh.status_code == 200 and fresh.json() == truth
    assert await cache_reads(client, "balance", "bypass") == bypasses + 1
    assert (await client.get("/balance", headers=alice.headers)).json() == truth
    bypasses = await cache_reads(client, "portfolio", "bypass")
    portfolio = await client.get("/portfolio", headers={**alice.headers, "Cache-Control": "no-cache"})
    assert portfolio.status_code == 200 and portfolio.json()["holdings"] == []
    assert await cache_reads(client, "portfolio", "bypass") == bypasses + 1


async def test_a_hit_answered_in_front_of_the_framework_is_the_routes_answer(client, trader):
    """The second read of each view is a hit answered by `cached_reads`: the same body
    and headers (but the request id) as the route's own answer, and counted as a hit."""
    alice = await trader(1000)
    await alice.place(orderType="limit", limitPrice="100", quantity=2, timeInForce="gtc")
    for view, path in (("balance", "/balance"), ("portfolio", "/portfolio")):
        routed = await client.get(path, headers={**alice.headers, "Cache-Control": "no-cache"})
        hits = await cache_reads(client, view, "hit")
        cached = await client.get(path, headers=alice.headers)
        assert await cache_reads(client, view, "hit") == hits + 1
        assert cached.status_code == routed.status_code == 200
        assert cached.content == routed.content
        same = {k: v for k, v in routed.headers.items() if k not in ("x-request-id", "ratelimit-remaining")}
        assert {k: v for k, v in cached.headers.items() if k in same} == same
        assert set(cached.headers) == set(routed.headers)


async def test_what_is_not_a_certain_hit_goes_to_the_route(client, trader):
    alice = await trader(1000)
    await alice.balance()  # cached now
    unknown = await client.get("/balance", headers={"Authorization": "Bearer not-a-token"})
    assert unknown.status_code == 401 and unknown.headers["content-type"] == "application/problem+json"
    odd = await client.get("/balance", params={"x": "\x00"}, headers=alice.headers)
    assert odd.status_code == 400
