"""The notification hub between the processes of `tickerdesk up --workers N`, over
PostgreSQL LISTEN/NOTIFY: no server beyond the database.

The core's notifier publishes each stored notification with `pg_notify` on one channel,
in one round trip per batch, in order. Every worker LISTENs on its one listening
connection (from its first WebSocket or SSE subscriber on) and hands each notification
to the connections it holds for that user; a payload names its user before the JSON, so
a worker skips another's users without decoding. PostgreSQL refuses payloads of 8000
bytes or more: a larger notification travels as a pointer (its `seq`), and the worker
reads it from the inbox. Given the processes' shared count of open streams
(`adapters/shared_memory/listeners`), the core publishes only the notifications of users
with a stream open somewhere, and each worker counts its streams in it. Notifications are
handled one at a time in arrival order, so a pointer cannot be overtaken by the next one.

If the listening connection drops, what is published until it is back is lost to it:
every stream open on the worker is ended as if it had overflowed, when it drops and
again when it is back, and its client resumes from the inbox. Closing the hub ends them
too, so a stopping worker stops at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

import asyncpg
import structlog

from tickerdesk.adapters.memory.hub import Subscribers, Subscription
from tickerdesk.adapters.postgres.inbox import PgInbox
from tickerdesk.adapters.postgres.listen import PgListener
from tickerdesk.adapters.shared_memory.listeners import SharedListeners
from tickerdesk.app.ports import Notification
from tickerdesk.codec import decode_notification, dumps, encode_notification, loads

log = structlog.get_logger(__name__)

CHANNEL = "tickerdesk_notifications"
MAX_PAYLOAD_BYTES = 7_999  # PostgreSQL's limit is below 8000 bytes


def _payload(notification: Notification, max_bytes: int) -> str:
    """`<length of the user id>:<user id><notification JSON, or its seq>`."""
    user_id = notification.event.user_id
    head = f"{len(user_id)}:{user_id}"
    whole = head + dumps(encode_notification(notification))
    if len(whole.encode("utf-8", "surrogatepass")) <= max_bytes:
        return whole
    return head + str(notification.seq)


class PgHub:
    def __init__(self, pool: asyncpg.Pool, inbox: PgInbox, listener: PgListener | None = None, *,
                 listeners: SharedListeners | None = None, max_payload_bytes: int = MAX_PAYLOAD_BYTES):
        """Without a `listener`, the hub only publishes (the core). Without `listeners`, it
        publishes every notification."""
        self._pool = pool
        self._listeners = listeners
        self._inbox = inbox
        self._listener = listener
        self._max_payload = max_payload_bytes
        self._subscribers = Subscribers()
        self._arrived: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def publish(self, notifications: Sequence[Notification]) -> None:
        if self._listeners is not None:
            notifications = [n for n in notifications if self._listeners.listening(n.event.user_id)]
        if not notifications:
            return
        # One statement, so one transaction (delivered together, in order) and one execution in
        # PostgreSQL however many there are: a statement each cost it more than the NOTIFYs.
        await self._pool.execute(
            "SELECT count(pg_notify($1, p)) FROM (SELECT p FROM unnest($2::text[]) WITH ORDINALITY AS x(p, i) "
            "ORDER BY i) AS ordered",
            CHANNEL, [_payload(n, self._max_payload) for n in notifications])

    @contextlib.asynccontextmanager
    async def subscribe(self, user_id: str) -> AsyncIterator[Subscription]:
        if self._reader is None:
            await self._start()
        if self._listeners is not None:
            self._listeners.add(user_id)  # before the caller reads the inbox's backlog
        queue = self._subscribers.add(user_id)
        try:
            yield queue
        finally:
            self._subscribers.remove(user_id, queue)
            if self._listeners is not None:
                self._listeners.remove(user_id)

    async def _start(self) -> None:
        async with self._lock:
            if self._reader is not None:
                return
            if self._listener is None:
                raise RuntimeError("this hub only publishes: it was given no listening connection")
            await self._listener.listen(CHANNEL, self._received)
            self._listener.on_gap.append(self._missed)
            self._reader = asyncio.create_task(self._read(), name="pg-hub")

    def _received(self, payload: str) -> None:
        length, _, rest = payload.partition(":")
        user_id, body = rest[: int(length)], rest[int(length):]
        if user_id in self._subscribers.by_user:  # else nobody here wants it: not even decoded
            self._arrived.put_nowait((user_id, body))

    async def _read(self) -> None:
        while True:
            user_id, body = await self._arrived.get()
            try:
                if body.startswith("{"):
                    self._subscribers.deliver(decode_notification(loads(body)))
                    continue
                seq = int(body)  # too large to travel: read it from the inbox
                for notification in await self._inbox.after(user_id, after=seq - 1, limit=1):
                    if notification.seq == seq:
                        self._subscribers.deliver(notification)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("notification fan-out failed", user_id=user_id)

    def _missed(self) -> None:
        self._subscribers.end_all()

    @property
    def connections(self) -> int:
        return self._subscribers.connections

    async def close(self) -> None:
        """End every open stream (its client resumes from the inbox elsewhere) and stop."""
        self._subscribers.end_all()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
