"""The read cache in front of GET /balance and GET /portfolio, per user.

Values are JSON written with the exact-decimal `dumps`, so money comes back as
the very Decimal that went in. The one hazard of a read-through cache is a slow
reader putting a value it read before a write committed; a per-user version
counter closes it:

    v = await cache.version(user)        # BEFORE reading the database
    value = <read the database>
    await cache.put(kind, user, value, version=v)   # stored only if still v

and writers call `invalidate(user)` AFTER their commit, which bumps the version
and drops the user's entries (`tickerdesk.app.post_commit` does, once per commit).
Redis serves a fleet; the in-process twin (`adapters/memory/cache.py`) serves
`tickerdesk up`.

While Redis is unreachable the cache is bypassed (every read goes to PostgreSQL) and
an invalidation that failed is remembered. When Redis answers again (perhaps a
promoted replica, which may lack the last writes of the dead primary), the first
process to notice re-bumps the versions it owes and drops every cached value before
it serves from the cache again: an entry written before the outage cannot outlive it
(only a put racing the very recovery can, for at most the TTL).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import redis.asyncio
import structlog

from tickerdesk.adapters.redis.client import UNAVAILABLE
from tickerdesk.codec import dumps, loads

log = structlog.get_logger(__name__)
BYPASS = -1  # the version while Redis is away: put() stores nothing
RECOVERY_PROBE_SECONDS = 0.5

KINDS = ("balance", "portfolio")
# Outlives any value by far, so a put delayed past a bump still sees the bump;
# refreshed on each invalidation, and an expired counter only reads as 0 (a miss).
VERSION_TTL_SECONDS = 86_400

# KEYS: value key, version key; ARGV: expected version, value, ttl seconds.
# Compare-and-set in one script, so no invalidation can slip between the check and the SET.
_PUT_IF_CURRENT = """
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if current ~= tonumber(ARGV[1]) then
    return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""


def check_kind(kind: str) -> None:
    # invalidate() drops exactly KINDS; any other kind would never be invalidated.
    if kind not in KINDS:
        raise ValueError(f"unknown cache kind {kind!r}; expected one of {KINDS}")


def check_ttl(ttl_seconds: int) -> None:
    if ttl_seconds < 1:
        raise ValueError("ttl_seconds must be at least 1")


class RedisReadCache:
    def __init__(self, redis: redis.asyncio.Redis, *, prefix: str = "tickerdesk", ttl_seconds: int = 30):
        check_ttl(ttl_seconds)
        self._redis, self._prefix, self._ttl = redis, prefix, ttl_seconds
        self._put_if_current = redis.register_script(_PUT_IF_CURRENT)
        self.degraded = False
        self._owed: set[str] = set()  # users whose invalidation failed
        self._probe_at = 0.0
        self._recovery: asyncio.Task[None] | None = None

    def _lost(self, error: Exception) -> None:
        if not self.degraded:
            log.warning("read cache: Redis unreachable, bypassing the cache", error=repr(error))
        self.degraded = True

    def _bypassing(self) -> bool:
        """True while degraded; now and then starts a recovery attempt in the background."""
        if not self.degraded:
            return False
        now = time.monotonic()
        if (self._recovery is None or self._recovery.done()) and now >= self._probe_at:
            self._probe_at = now + RECOVERY_PROBE_SECONDS
            self._recovery = asyncio.create_task(self._recover(), name="read-cache-recovery")
        return True

    async def _recover(self) -> None:
        try:
            for user_id in list(self._owed):
                await self._bump(user_id)
                self._owed.discard(user_id)
            async for key in self._redis.scan_iter(match=f"{self._prefix}:cache:*", count=1000):
                name = key.decode() if isinstance(key, bytes) else key
                if not name.startswith(f"{self._prefix}:cache:version:"):
                    await self._redis.unlink(key)
        except UNAVAILABLE:
            return
        self.degraded = False
        log.info("read cache: Redis is back, cached values dropped")

    def _key(self, kind: str, user_id: str) -> str:
        return f"{self._prefix}:cache:{kind}:{user_id}"

    def _version_key(self, user_id: str) -> str:
        return f"{self._prefix}:cache:version:{user_id}"

    async def get(self, kind: str, user_id: str) -> dict[str, Any] | None:
        check_kind(kind)
        if self._bypassing():
            return None
        try:
            text = await self._redis.get(self._key(kind, user_id))
        except UNAVAILABLE as error:
            self._lost(error)
            return None
        return None if text is None else loads(text)

    async def put(self, kind: str, user_id: str, value: dict[str, Any], *, version: int) -> None:
        check_kind(kind)
        if version == BYPASS or self.degraded:
            return
        try:
            await self._put_if_current(
                keys=[self._key(kind, user_id), self._version_key(user_id)],
                args=[version, dumps(value), self._ttl],
            )
        except UNAVAILABLE as error:
            self._lost(error)

    async def _bump(self, user_id: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(self._version_key(user_id))
            pipe.expire(self._version_key(user_id), VERSION_TTL_SECONDS)
            pipe.delete(*(self._key(kind, user_id) for kind in KINDS))
            await pipe.execute()

    async def invalidate(self, user_id: str) -> None:
        self._bypassing()  # a writer that only invalidates also pays what it owes once Redis is back
        try:
            await self._bump(user_id)
        except UNAVAILABLE as error:
            self._owed.add(user_id)  # bumped once Redis answers, before anything is served from it
            self._lost(error)

    async def version(self, user_id: str) -> int:
        if self._bypassing():
            return BYPASS
        try:
            return int(await self._redis.get(self._version_key(user_id)) or 0)
        except UNAVAILABLE as error:
            self._lost(error)
            return BYPASS
