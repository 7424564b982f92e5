"""Real-time fan-out of notifications to the connections open on this replica.

The notifier publishes each stored notification once; every api replica listens and
hands it to the WebSocket and SSE connections of that user it holds. In-process for
`tickerdesk up`; Redis pub/sub (one channel per user, subscribed only while the user
has a connection here) in production.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import structlog

from tickerdesk.adapters.postgres.db import dumps, loads

log = structlog.get_logger(__name__)

QUEUE_SIZE = 1000  # a connection this far behind is closed; it resumes from the inbox


class Subscription(asyncio.Queue):
    """A connection's queue of notifications; `overflowed` tells its reader to close
    the connection, so the client resumes from the inbox instead of missing events."""

    overflowed = False


class _Subscribers:
    def __init__(self) -> None:
        self.by_user: dict[str, set[Subscription]] = defaultdict(set)

    def deliver(self, user_id: str, notification: dict[str, Any]) -> None:
        for queue in list(self.by_user.get(user_id, ())):
            try:
                queue.put_nowait(notification)
            except asyncio.QueueFull:
                queue.overflowed = True

    @property
    def connections(self) -> int:
        return sum(len(q) for q in self.by_user.values())


class MemoryHub:
    def __init__(self) -> None:
        self._subscribers = _Subscribers()

    async def publish(self, notifications: list[dict[str, Any]]) -> None:
        for n in notifications:
            self._subscribers.deliver(n["userId"], n)

    @contextlib.asynccontextmanager
    async def subscribe(self, user_id: str) -> AsyncIterator[Subscription]:
        queue: Subscription = Subscription(QUEUE_SIZE)
        self._subscribers.by_user[user_id].add(queue)
        try:
            yield queue
        finally:
            self._subscribers.by_user[user_id].discard(queue)
            if not self._subscribers.by_user[user_id]:
                del self._subscribers.by_user[user_id]

    @property
    def connections(self) -> int:
        return self._subscribers.connections

    async def close(self) -> None:
        pass


class RedisHub:
    def __init__(self, redis, prefix: str = "tickerdesk"):
        self._redis = redis
        self._prefix = prefix
        self._pubsub = redis.pubsub(ignore_subscribe_messages=True)
        self._subscribers = _Subscribers()
        self._reader: asyncio.Task | None = None
        self._lock = asyncio.Lock()

    def _channel(self, user_id: str) -> str:
        return f"{self._prefix}:notify:{user_id}"

    async def publish(self, notifications: list[dict[str, Any]]) -> None:
        if not notifications:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for n in notifications:
                pipe.publish(self._channel(n["userId"]), dumps(n))
            await pipe.execute()

    @contextlib.asynccontextmanager
    async def subscribe(self, user_id: str) -> AsyncIterator[Subscription]:
        queue: Subscription = Subscription(QUEUE_SIZE)
        async with self._lock:
            first = user_id not in self._subscribers.by_user
            self._subscribers.by_user[user_id].add(queue)
            if first:
                await self._pubsub.subscribe(self._channel(user_id))
            if self._reader is None:
                self._reader = asyncio.create_task(self._read(), name="redis-hub")
        try:
            yield queue
        finally:
            async with self._lock:
                self._subscribers.by_user[user_id].discard(queue)
                if not self._subscribers.by_user[user_id]:
                    del self._subscribers.by_user[user_id]
                    await self._pubsub.unsubscribe(self._channel(user_id))

    async def _read(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                notification = loads(message["data"])
                self._subscribers.deliver(notification["userId"], notification)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("notification fan-out failed")
                await asyncio.sleep(0.5)

    @property
    def connections(self) -> int:
        return self._subscribers.connections

    async def close(self) -> None:
        if self._reader:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        await self._pubsub.aclose()
