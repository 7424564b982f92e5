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
