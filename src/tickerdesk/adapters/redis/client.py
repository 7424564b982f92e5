"""The Redis client every Redis adapter shares: one server (`redis://...`), or the
primary that Redis Sentinel names (TICKERDESK_REDIS_SENTINELS), found again after a
failover.

What each use does while Redis is unreachable (README, "High availability"): the read
cache is bypassed, rate limits fall back to this process's own buckets, the
notification hub ends its streams (clients resume from the inbox), the venue-sim keeps
what it could not save and saves it with the next change. None of them stops a
placement: the money rules live in PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

import redis.asyncio
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.exceptions import RedisError

# Errors that mean "Redis is not answering (now)": the adapters degrade on these and
# raise nothing else. ReadOnlyError (a demoted primary) and the sentinel's
# MasterNotFoundError are RedisErrors too.
UNAVAILABLE: tuple[type[Exception], ...] = (RedisError, OSError)

# Under Sentinel a dead primary must cost a request milliseconds, not a hung socket.
CONNECT_TIMEOUT_SECONDS = 0.5
SOCKET_TIMEOUT_SECONDS = 2.0


class _BlockingSentinelPool(SentinelConnectionPool, redis.asyncio.BlockingConnectionPool):
    """Sentinel's pool, waiting for a free connection like the single server's."""


def parse_sentinels(value: str | Sequence[str]) -> list[tuple[str, int]]:
    """`host:port,host:port` (or a list of them) as (host, port) pairs."""
    items = value.split(",") if isinstance(value, str) else list(value)
    pairs = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"a sentinel is host:port, not {item!r}")
        pairs.append((host.strip("[]"), int(port)))
    return pairs


def redis_client(url: str, max_connections: int = 64, *, sentinels: str | Sequence[str] = (),
                 master: str = "tickerdesk") -> redis.asyncio.Redis:
    """A client whose pool waits for a free connection instead of failing when busy
    (redis-py's default pool raises once `max_connections` commands are in flight).

    With `sentinels`, the primary of `master` as the sentinels name it, asked again on
    every new connection (so after a failover); `url` then gives only the database
    number and the password."""
    pairs = parse_sentinels(sentinels)
    if not pairs:
        pool = redis.asyncio.BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=10)
        return redis.asyncio.Redis.from_pool(pool)
    parts = urlsplit(url)
    db = int(parts.path.strip("/") or 0) if parts.path.strip("/").isdigit() else 0
    sentinel = Sentinel(pairs, socket_timeout=CONNECT_TIMEOUT_SECONDS,
                        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS)
    return sentinel.master_for(
        master, db=db, password=parts.password, username=parts.username or None,
        socket_timeout=SOCKET_TIMEOUT_SECONDS, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        max_connections=max_connections, timeout=10, health_check_interval=5,
        connection_pool_class=_BlockingSentinelPool)


def through_sentinel(client: redis.asyncio.Redis) -> bool:
    """True for a client of a Sentinel-managed primary (which has a replica to wait for)."""
    return isinstance(client.connection_pool, SentinelConnectionPool)
