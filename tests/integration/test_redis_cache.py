"""The read cache, in Redis, in process and in shared memory (`up --workers N`): exact
decimals, expiry, invalidation, and no stale value stored by a reader that raced a writer.

Redis is `TICKERDESK_TEST_REDIS_URL` (default the local one); an unreachable
Redis fails these tests, since the project's test command starts one. Each test
uses a prefix of its own and deletes its keys afterwards.
"""

from __future__ import annotations

import asyncio
import os
from decimal import Decimal

import pytest

from tickerdesk.adapters.memory.cache import MemoryReadCache
from tickerdesk.adapters.redis.cache import RedisReadCache
from tickerdesk.adapters.shared_memory.cache import SharedReadCache
from tickerdesk.adapters.shared_memory.tables import SharedTables

REDIS_URL = os.environ.get("TICKERDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

BALANCE = {
    "userId": "alice",
    "availableBalance": Decimal("7252.5"),
    "heldForTrades": Decimal("0.0001"),
    "totalBalance": Decimal("7252.5001"),
}
PORTFOLIO = {"userId": "alice", "holdings": [{"stockSymbol": "AAPL", "quantity": 3}], "totalValue": Decimal("570.00")}


@pytest.fixture(params=["redis", "memory", "shared"])
def make_cache(request):
    """`make_cache(ttl_seconds=...)`: a fresh cache of the parametrized kind."""
    if request.param == "memory":
        return lambda ttl_seconds=30: MemoryReadCache(ttl_seconds=ttl_seconds)
    if request.param == "shared":  # `up --workers N`: values per process, generations in shared memory
        tables = SharedTables.create(limit_slots=8, generation_slots=1024, price_slots=8)
        request.addfinalizer(tables.close)
        return lambda ttl_seconds=30: SharedReadCache(tables.generations, ttl_seconds=ttl_seconds)
    client, prefix = request.getfixturevalue("redis_prefix")
    return lambda ttl_seconds=30: RedisReadCache(client, prefix=prefix, ttl_seconds=ttl_seconds)


async def put_current(cache, kind: str, user_id: str, value: dict) -> None:
    await cache.put(kind, user_id, value, version=await cache.version(user_id))


async def test_a_cached_value_comes_back_with_the_exact_decimals(make_cache):
    cache = make_cache()
    await put_current(cache, "balance", "alice", BALANCE)
    got = await cache.get("balance", "alice")
    assert got == BALANCE
    for field in ("availableBalance", "heldForTrades", "totalBalance"):
        assert type(got[field]) is Decimal
        assert str(got[field]) == str(BALANCE[field])  # the digits too: 570.00 stays 570.00
    assert str((await cache.get("balance", "alice"))["totalBalance"]) == "7252.5001"


async def test_changing_a_returned_value_does_not_change_the_cache(make_cache):
    cache = make_cache()
    await put_current(cache, "portfolio", "alice", PORTFOLIO)
    (await cache.get("portfolio", "alice"))["holdings"].clear()
    assert await cache.get("portfolio", "alice") == PORTFOLIO


async def test_a_value_expires_after_the_ttl(make_cache):
    cache = make_cache(ttl_seconds=1)
    await put_current(cache, "balance", "alice", BALANCE)
    assert await cache.get("balance", "alice") == BALANCE
    await asyncio.sleep(1.2)
    assert await cache.get("balance", "alice") is None


async def test_invalidate_drops_both_kinds_and_bumps_the_version(make_cache):
    cache = make_cache()
    await put_current(cache, "balance", "alice", BALANCE)
    await put_current(cache, "portfolio", "alice", PORTFOLIO)
    before = await cache.version("alice")
    await cache.invalidate("alice")
    assert await cache.get("balance", "alice") is None
    assert await cache.get("portfolio", "alice") is None
    assert await cache.version("alice") == before + 1


async def test_a_put_with_the_version_read_before_an_invalidation_is_ignored(make_cache):
    cache = make_cache()
    seen = await cache.version("alice")  # the reader, before its database read
    await cache.invalidate("alice")  # a writer commits meanwhile
    await cache.put("balance", "alice", BALANCE, version=seen)  # the reader's old value
    assert await cache.get("balance", "alice") is None
    await put_current(cache, "balance", "alice", BALANCE)  # a reader that started afterwards
    assert await cache.get("balance", "alice") == BALANCE


async def test_users_are_isolated(make_cache):
    cache = make_cache()
    await put_current(cache, "balance", "alice", BALANCE)
    await put_current(cache, "balance", "bob", {**BALANCE, "userId": "bob"})
    assert await cache.get("balance", "carol") is None
    seen_by_bob = await cache.version("bob")
    await cache.invalidate("alice")
    assert await cache.get("balance", "alice") is None
    assert (await cache.get("balance", "bob"))["userId"] == "bob"
    assert await cache.version("bob") == seen_by_bob


async def test_an_unknown_kind_is_refused_because_invalidate_would_miss_it(make_cache):
    cache = make_cache()
    with pytest.raises(ValueError):
        await cache.put("ledger", "alice", {}, version=0)
    with pytest.raises(ValueError):
        await cache.get("ledger", "alice")


async def test_redis_keys_follow_the_prefix_layout_and_the_version_key_expires(redis_prefix):
    client, prefix = redis_prefix
    cache = RedisReadCache(client, prefix=prefix, ttl_seconds=30)
    await cache.invalidate("alice")
    await put_current(cache, "balance", "alice", BALANCE)
    assert 0 < await client.ttl(f"{prefix}:cache:balance:alice") <= 30
    assert await client.ttl(f"{prefix}:cache:version:alice") > 0
    assert await client.get(f"{prefix}:cache:version:alice") == b"1"
