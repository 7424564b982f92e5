"""Real-time fan-out of notifications to the connections open in this process.

`Subscribers` is the per-replica half every hub shares: each connection has a
bounded queue; one that falls too far behind is marked `overflowed` and closed by
its reader, so the client resumes from the inbox instead of missing events.
`MemoryHub` is the whole hub for `tickerdesk up`; the Redis hub adds the fan-out
between replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from typing import cast

from tickerdesk.app.ports import Notification

QUEUE_SIZE = 1000  # a connection this far behind is closed; it resumes from the inbox


class Subscription(asyncio.Queue[Notification]):
    """A connection's queue of notifications; `overflowed` tells its reader to close
    the connection, so the client resumes from the inbox instead of missing events."""

    overflowed = False


class Subscribers:
    def __init__(self) -> None:
        self.by_user: dict[str, set[Subscription]] = defaultdict(set)

    def deliver(self, notification: Notification) -> None:
        for queue in list(self.by_user.get(notification.event.user_id, ())):
            try:
                queue.put_nowait(notification)
            except asyncio.QueueFull:
                queue.overflowed = True

    def add(self, user_id: str) -> Subscription:
        queue = Subscription(QUEUE_SIZE)
        self.by_user[user_id].add(queue)
        return queue

    def remove(self, user_id: str, queue: Subscription) -> bool:
        """Forget a connection; True when it was the user's last one here."""
        self.by_user[user_id].discard(queue)
        if self.by_user[user_id]:
            return False
        del self.by_user[user_id]
        return True

    def end_all(self) -> None:
        """Close every connection: each reader is woken and finds its queue overflowed,
        so its client resumes from the inbox (after a lost link, or when the process stops)."""
        for queues in self.by_user.values():
            for queue in queues:
                queue.overflowed = True
                with contextlib.suppress(asyncio.QueueFull):  # a full queue wakes its reader anyway
                    queue.put_nowait(cast(Notification, None))  # never read: the reader stops at `overflowed`

    @property
    def connections(self) -> int:
        return sum(len(q) for q in self.by_user.values())


class MemoryHub:
    def __init__(self) -> None:
        self._subscribers = Subscribers()

    async def publish(self, notifications: Sequence[Notification]) -> None:
        for notification in notifications:
            self._subscribers.deliver(notification)

    @contextlib.asynccontextmanager
    async def subscribe(self, user_id: str) -> AsyncIterator[Subscription]:
        queue = self._subscribers.add(user_id)
        try:
            yield queue
        finally:
            self._subscribers.remove(user_id, queue)

    @property
    def connections(self) -> int:
        return self._subscribers.connections

    async def close(self) -> None:
        pass
