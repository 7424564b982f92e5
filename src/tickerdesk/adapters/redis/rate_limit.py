"""The token buckets in Redis: one Lua script (read, refill, take, write), so concurrent
requests from many API processes can never spend the same token twice; the clock is
Redis `TIME`, so processes with drifting clocks agree.

While Redis is unreachable, each process falls back to buckets of its own (the same
limits, in memory): a user may then get up to one burst per api replica. That fails
open on purpose, within a bound: rate limits protect capacity, not money (the holds
and CHECK constraints in PostgreSQL do), and a placement must never be refused
because Redis is down. The Redis buckets are used again from the next request on."""

from __future__ import annotations

import redis.asyncio
import structlog

from tickerdesk.adapters.memory.rate_limit import MemoryRateLimiter
from tickerdesk.adapters.redis.client import UNAVAILABLE
from tickerdesk.app.rate_limits import Decision, RateLimit, check_cost, decide, expiry_seconds

# KEYS: bucket hash; ARGV: rate, burst, cost, expiry seconds, take (1, or 0 to only look).
# Returns {allowed, tokens after}. Floats are written with %.17g because Lua's tostring keeps
# only 14 digits. A look writes nothing: the refill is computed again from `ts` next time.
_TAKE = """
local rate, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens, ts = tonumber(state[1]), tonumber(state[2])
if tokens == nil or ts == nil then
    tokens, ts = burst, now
end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed = 0
if tokens >= cost then
    allowed = 1
end
if ARGV[5] == '0' then
    return {allowed, string.format('%.17g', tokens)}
end
if allowed == 1 then
    tokens = tokens - cost
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts', string.format('%.17g', now))
redis.call('EXPIRE', KEYS[1], ARGV[4])
return {allowed, string.format('%.17g', tokens)}
"""

log = structlog.get_logger(__name__)


class RedisRateLimiter:
    def __init__(self, redis: redis.asyncio.Redis, *, prefix: str = "tickerdesk"):
        self._prefix = prefix
        self._take = redis.register_script(_TAKE)
        self.fallback = MemoryRateLimiter()  # this process's buckets, while Redis is away
        self.degraded = False

    def _lost(self, error: Exception) -> None:
        if not self.degraded:
            log.warning("rate limits: Redis unreachable, using this process's buckets", error=repr(error))
        self.degraded = True

    def _back(self) -> None:
        if self.degraded:
            log.info("rate limits: Redis is back")
        self.degraded = False

    async def hit(self, key: str, limit: RateLimit, cost: int = 1) -> Decision:
        check_cost(limit, cost)
        try:
            allowed, tokens = await self._take(
                keys=[f"{self._prefix}:ratelimit:{key}"],
                args=[repr(limit.rate), limit.burst, cost, expiry_seconds(limit), 1],
            )
        except UNAVAILABLE as error:
            self._lost(error)
            return await self.fallback.hit(key, limit, cost)
        self._back()
        return decide(limit, cost, bool(int(allowed)), float(tokens))

    async def peek(self, key: str, limit: RateLimit) -> Decision:
        try:
            allowed, tokens = await self._take(
                keys=[f"{self._prefix}:ratelimit:{key}"],
                args=[repr(limit.rate), limit.burst, 1, expiry_seconds(limit), 0],
            )
        except UNAVAILABLE as error:
            self._lost(error)
            return await self.fallback.peek(key, limit)
        self._back()
        return decide(limit, 1, bool(int(allowed)), float(tokens))
