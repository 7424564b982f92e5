"""Real-time fan-out between api replicas over Redis pub/sub.

The notifier publishes each stored notification once, on its user's channel; every
api replica subscribes to the channel of each user it holds a WebSocket or SSE
connection for (only while it does) and hands the notification to those connections.

Pub/sub keeps nothing: what is published while a replica's subscription is down
(Redis gone, or a Sentinel failover under way) never reaches it. So whenever the
subscribing connection is lost or made again, every stream open on the replica is
ended as if it had overflowed, and its client resumes from the inbox (PostgreSQL),
which has every notification. A publish that fails is logged and dropped for the same
reason: the notifier has already stored the notification in the inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import redis.asyncio
import structlog
from redis.asyncio.client import PubSub

from tickerdesk.adapters.memory.hub import Subscribers, Subscription
from tickerdesk.adapters.redis.client import UNAVAILABLE
from tickerdesk.app.ports import Notification
from tickerdesk.codec import decode_notification, dumps, encode_notification, loads

log = structlog.get_logger(__name__)


class _PubSub(PubSub):
    """Tells the hub when its connection is made again: redis-py then re-subscribes
    silently (its first connection is made by the pool, without this callback)."""

    def __init__(self, *args: Any, on_reconnect: Callable[[], None], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._on_reconnect = on_reconnect

    async def on_connect(self, connection: Any) -> None:
        self._on_reconnect()
        await super().on_connect(connection)


class RedisHub:
    def __init__(self, redis: redis.asyncio.Redis, prefix: str = "tickerdesk"):
        self._redis = redis
        self._prefix = prefix
        self._subscribers = Subscribers()
        self._pubsub = _PubSub(redis.connection_pool, ignore_subscribe_messages=True,
                               on_reconnect=self._link_lost)
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def _channel(self, user_id: str) -> str:
        return f"{self._prefix}:notify:{user_id}"

    async def publish(self, notifications: Sequence[Notification]) -> None:
        if not notifications:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for n in notifications:
                    pipe.publish(self._channel(n.event.user_id), dumps(encode_notification(n)))
                await pipe.execute()
        except UNAVAILABLE as error:  # in the inbox already: streams resume from there
            log.warning("notifications not published; streams resume from the inbox", error=repr(error))

    def _link_lost(self) -> None:
        if self._subscribers.connections:
            log.warning("notification fan-out lost Redis; streams resume from the inbox")
        self._subscribers.end_all()

    @contextlib.asynccontextmanager
    async def subscribe(self, user_id: str) -> AsyncIterator[Subscription]:
        async with self._lock:
            first = user_id not in self._subscribers.by_user
            queue = self._subscribers.add(user_id)
            if first:
                try:
                    await self._pubsub.subscribe(self._channel(user_id))
                except BaseException:
                    self._subscribers.remove(user_id, queue)
                    raise
            if self._reader is None:
                self._reader = asyncio.create_task(self._read(), name="redis-hub")
        try:
            yield queue
        finally:
            async with self._lock:
                if self._subscribers.remove(user_id, queue):
                    with contextlib.suppress(*UNAVAILABLE):  # a new connection subscribes afresh
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
            except UNAVAILABLE as error:
                self._link_lost()
                log.warning("notification fan-out: Redis unreachable", error=repr(error))
                await asyncio.sleep(0.5)
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
