"""Real-time fan-out between api replicas over Redis pub/sub.

The notifier publishes each stored notification once, on its user's channel; every
api replica subscribes to the channel of each user it holds a WebSocket or SSE
connection for (only while it does) and hands the notification to those connections.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

import redis.asyncio
import structlog

from tickerdesk.adapters.memory.hub import Subscribers, Subscription
from tickerdesk.app.ports import Notification
from tickerdesk.codec import decode_notification, dumps, encode_notification, loads

log = structlog.get_logger(__name__)


class RedisHub:
    def __init__(self, redis: redis.asyncio.Redis, prefix: str = "tickerdesk"):
        self._redis = redis
        self._prefix = prefix
        self._pubsub = redis.pubsub(ignore_subscribe_messages=True)
        self._subscribers = Subscribers()
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def _channel(self, user_id: str) -> str:
        return f"{self._prefix}:notify:{user_id}"

    async def publish(self, notifications: Sequence[Notification]) -> None:
        if not notifications:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for n in notifications:
                pipe.publish(self._channel(n.event.user_id), dumps(encode_notification(n)))
            await pipe.execute()

    @contextlib.asynccontextmanager
    async def subscribe(self, user_id: str) -> AsyncIterator[Subscription]:
        async with self._lock:
            first = user_id not in self._subscribers.by_user
            queue = self._subscribers.add(user_id)
            if first:
                await self._pubsub.subscribe(self._channel(user_id))
            if self._reader is None:
                self._reader = asyncio.create_task(self._read(), name="redis-hub")
        try:
            yield queue
        finally:
            async with self._lock:
                if self._subscribers.remove(user_id, queue):
                    await self._pubsub.unsubscribe(self._channel(user_id))

    async def _read(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                self._subscribers.deliver(decode_notification(loads(message["data"])))
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
