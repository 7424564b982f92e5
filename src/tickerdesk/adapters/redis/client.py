"""The Redis client every Redis adapter shares."""

from __future__ import annotations

import redis.asyncio


def redis_client(url: str, max_connections: int = 64) -> redis.asyncio.Redis:
    """A client whose pool waits for a free connection instead of failing when busy
    (redis-py's default pool raises once `max_connections` commands are in flight)."""
    pool = redis.asyncio.BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=10)
    return redis.asyncio.Redis.from_pool(pool)
