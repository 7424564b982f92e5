"""Token buckets, in Redis, in process and in shared memory: the burst passes and the next request
is refused, tokens come back at the rate, concurrent requests never spend a token
twice, and keys do not share buckets.

Redis is `TICKERDESK_TEST_REDIS_URL` (default the local one); an unreachable
Redis fails these tests. Each test uses a prefix of its own and deletes its keys.
"""

from __future__ import annotations

import asyncio

import pytest

from tickerdesk.adapters.memory.rate_limit import MemoryRateLimiter
from tickerdesk.adapters.redis.rate_limit import RedisRateLimiter
from tickerdesk.adapters.shared_memory.rate_limit import SharedRateLimiter
from tickerdesk.adapters.shared_memory.tables import SharedTables
from tickerdesk.app.rate_limits import RateLimit
from tickerdesk.entrypoints.http.limits import headers


@pytest.fixture(params=["redis", "memory", "shared"])
def limiter(request):
    if request.param == "memory":
        return MemoryRateLimiter()
    if request.param == "shared":  # `up --workers N`: one table in shared memory for every process
        tables = SharedTables.create(limit_slots=1024, generation_slots=8, price_slots=8)
        request.addfinalizer(tables.close)
        return SharedRateLimiter(tables.limits)
    client, prefix = request.getfixturevalue("redis_prefix")
    return RedisRateLimiter(client, prefix=prefix)


async def hits(limiter, key: str, limit: RateLimit, n: int) -> list:
    return [await limiter.hit(key, limit) for _ in range(n)]


async def test_the_burst_passes_and_the_next_request_is_refused(limiter):
    limit = RateLimit(rate=1, burst=5)
    decisions = await hits(limiter, "place:alice", limit, 6)
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0]
    refused = decisions[-1]
    assert refused.limit == 5
    assert 0.5 < refused.retry_after <= 1.0  # one token at 1/s, less what refilled during the test
    assert 4.5 < refused.reset_seconds <= 5.0
    assert all(d.retry_after == 0 for d in decisions[:5])


async def test_tokens_come_back_at_the_rate(limiter):
    limit = RateLimit(rate=10, burst=5)
    await hits(limiter, "place:alice", limit, 5)
    assert not (await limiter.hit("place:alice", limit)).allowed
    await asyncio.sleep(0.25)  # 2.5 tokens at 10/s
    allowed = sum(d.allowed for d in await hits(limiter, "place:alice", limit, 5))
    assert 2 <= allowed <= 3  # 3 only if the loop was slow by 50 ms


async def test_a_refused_request_takes_no_tokens(limiter):
    limit = RateLimit(rate=0.001, burst=2)
    await hits(limiter, "place:alice", limit, 10)
    await asyncio.sleep(0)
    decision = await limiter.hit("place:alice", limit)
    assert not decision.allowed and decision.retry_after > 900  # about 1000 s, not 9000


async def test_concurrent_hits_spend_each_token_once(limiter):
    limit = RateLimit(rate=0.001, burst=50)  # no refill worth a token during the test
    decisions = await asyncio.gather(*(limiter.hit("place:alice", limit) for _ in range(200)))
    assert sum(d.allowed for d in decisions) == 50


async def test_keys_have_buckets_of_their_own(limiter):
    limit = RateLimit(rate=0.001, burst=2)
    await hits(limiter, "place:alice", limit, 3)
    assert (await limiter.hit("place:bob", limit)).allowed
    assert (await limiter.hit("cancel:alice", limit)).allowed
    assert not (await limiter.hit("place:alice", limit)).allowed


async def test_a_cost_takes_that_many_tokens_and_cannot_exceed_the_burst(limiter):
    limit = RateLimit(rate=0.001, burst=10)
    decision = await limiter.hit("admin:alice", limit, cost=7)
    assert decision.allowed and decision.remaining == 3
    refused = await limiter.hit("admin:alice", limit, cost=4)
    assert not refused.allowed and refused.remaining == 3
    assert (await limiter.hit("admin:alice", limit, cost=3)).allowed
    with pytest.raises(ValueError):
        await limiter.hit("admin:alice", limit, cost=11)


async def test_a_peek_says_whether_a_hit_would_pass_and_takes_nothing(limiter):
    limit = RateLimit(rate=0.001, burst=2)
    fresh = await limiter.peek("auth_failures:203.0.113.5", limit)
    assert fresh.allowed and fresh.remaining == 2
    for _ in range(5):
        assert (await limiter.peek("auth_failures:203.0.113.5", limit)).allowed  # takes nothing
    await hits(limiter, "auth_failures:203.0.113.5", limit, 2)
    spent = await limiter.peek("auth_failures:203.0.113.5", limit)
    assert not spent.allowed and spent.remaining == 0 and spent.retry_after > 900
    assert (await limiter.peek("auth_failures:203.0.113.6", limit)).allowed


async def test_headers_report_a_refusal(limiter):
    limit = RateLimit(rate=0.5, burst=1)
    assert "Retry-After" not in headers(await limiter.hit("read:alice", limit))
    assert headers(await limiter.hit("read:alice", limit)) == {
        "RateLimit-Limit": "1",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "2",
        "Retry-After": "2",
    }


async def test_the_redis_bucket_lives_under_the_prefix_and_expires(redis_prefix):
    client, prefix = redis_prefix
    limiter = RedisRateLimiter(client, prefix=prefix)
    await limiter.hit("place:alice", RateLimit(rate=10, burst=100))
    key = f"{prefix}:ratelimit:place:alice"
    assert set(await client.hgetall(key)) == {b"tokens", b"ts"}
    assert 0 < await client.ttl(key) <= 20  # ceil(100 / 10) * 2
