"""Per-user token buckets, and the RateLimit headers that report them.

A bucket holds up to `burst` tokens and refills at `rate` per second; a request
takes `cost` tokens or is refused. The Redis bucket is one Lua script (read,
refill, take, write), so concurrent requests from many API processes can never
spend the same token twice, and it reads the clock from Redis `TIME`, so
processes with drifting clocks agree. The in-process twin serves `tickerdesk up`.

A bucket is identified by its key alone; callers put the route group in the key
(e.g. "place:<user>") so that groups with different limits never share tokens.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass

import redis.asyncio

_LIMIT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*/\s*(\d+)\s*")


@dataclass(frozen=True)
class RateLimit:
    rate: float  # tokens per second
    burst: int  # bucket size

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate) and self.rate > 0) or self.burst < 1:
            raise ValueError(f"rate limit needs rate > 0 and burst >= 1, got {self.rate}/{self.burst}")

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """Read "<rate per second>/<burst>": "50/100" is 50 a second in a bucket of 100,
        "0.5/1" one request every 2 s. Anything else, zero included, is a ValueError."""
        match = _LIMIT.fullmatch(text)
        if match is None:
            raise ValueError(f"rate limit {text!r} is not '<rate per second>/<burst>', e.g. '50/100'")
        return cls(float(match[1]), int(match[2]))


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int  # the burst
    remaining: int  # whole tokens left after this request
    reset_seconds: float  # until the bucket is full again
    retry_after: float  # until this request's cost is available (0 when allowed)


def _decide(limit: RateLimit, cost: int, allowed: bool, tokens: float) -> Decision:
    return Decision(
        allowed=allowed,
        limit=limit.burst,
        remaining=math.floor(tokens),
        reset_seconds=max(0.0, (limit.burst - tokens) / limit.rate),
        retry_after=0.0 if allowed else max(0.0, (cost - tokens) / limit.rate),
    )


def _check_cost(limit: RateLimit, cost: int) -> None:
    # A request dearer than the whole bucket could never pass; that is a bug, not a limit.
    if not 1 <= cost <= limit.burst:
        raise ValueError(f"cost must be between 1 and the burst ({limit.burst}), got {cost}")


def _expiry_seconds(limit: RateLimit) -> int:
    # An idle bucket is full after burst/rate seconds, and a missing bucket reads as
    # full, so it can go then; twice that leaves a margin.
    return math.ceil(limit.burst / limit.rate) * 2


# KEYS: bucket hash; ARGV: rate, burst, cost, expiry seconds. Returns {allowed, tokens after}.
# Floats are written with %.17g because Lua's tostring keeps only 14 digits.
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
    tokens = tokens - cost
    allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts', string.format('%.17g', now))
redis.call('EXPIRE', KEYS[1], ARGV[4])
return {allowed, string.format('%.17g', tokens)}
"""


class RedisRateLimiter:
    def __init__(self, redis: redis.asyncio.Redis, *, prefix: str = "tickerdesk"):
        self._prefix = prefix
        self._take = redis.register_script(_TAKE)

    async def hit(self, key: str, limit: RateLimit, cost: int = 1) -> Decision:
        _check_cost(limit, cost)
        allowed, tokens = await self._take(
            keys=[f"{self._prefix}:ratelimit:{key}"],
            args=[repr(limit.rate), limit.burst, cost, _expiry_seconds(limit)],
        )
        return _decide(limit, cost, bool(int(allowed)), float(tokens))


class MemoryRateLimiter:
    """The same buckets in one process; `hit` never awaits, so it is atomic on the loop."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float, float]] = {}  # key -> tokens, at, full at
        self._sweep_above = 1024

    def _sweep(self, now: float) -> None:
        # Full buckets are the same as absent ones; dropping them bounds memory by active users.
        self._buckets = {k: b for k, b in self._buckets.items() if b[2] > now}
        self._sweep_above = max(1024, 2 * len(self._buckets))

    async def hit(self, key: str, limit: RateLimit, cost: int = 1) -> Decision:
        _check_cost(limit, cost)
        now = time.monotonic()
        tokens, at, _ = self._buckets.get(key, (float(limit.burst), now, now))
        tokens = min(float(limit.burst), tokens + (now - at) * limit.rate)
        allowed = tokens >= cost
        if allowed:
            tokens -= cost
        self._buckets[key] = (tokens, now, now + (limit.burst - tokens) / limit.rate)
        if len(self._buckets) > self._sweep_above:
            self._sweep(now)
        return _decide(limit, cost, allowed, tokens)


def _whole_seconds(seconds: float) -> int:
    # Rounded to the microsecond first, so float noise (2.0000000001) does not add a second.
    return math.ceil(round(seconds, 6))


def headers(decision: Decision) -> dict[str, str]:
    """IETF draft RateLimit fields, plus Retry-After (at least 1 s) on a refusal."""
    fields = {
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(_whole_seconds(decision.reset_seconds)),
    }
    if not decision.allowed:
        fields["Retry-After"] = str(max(1, _whole_seconds(decision.retry_after)))
    return fields
