"""The outbox relay, on PostgreSQL.

The relay claims a batch of committed events (SKIP LOCKED, so several relays
share the work without publishing one event twice), hands it to `publish`, and
deletes it in the same transaction only once `publish` returned: delivery is at
least once, and consumers are idempotent by event id.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog

from tickerdesk.metrics import OUTBOX_LAG

# The relay moves envelopes (the wire form): to RabbitMQ as they are, or, in one
# process, to a bus that decodes them for the consumers.

log = structlog.get_logger(__name__)

Publish = Callable[[list[dict[str, Any]]], Awaitable[None]]


class OutboxRelay:
    def __init__(self, pool: asyncpg.Pool, publish: Publish, *, batch: int = 500, exclusive: bool = False):
        self.pool = pool
        self._publish = publish
        self._batch = batch
        self._exclusive = exclusive
        self._wakeup = asyncio.Event()
        # One batch at a time in this process too: a second caller (`drain` from a test's
        # settle, beside the loop) would otherwise skip the rows the first has locked, take
        # the next ones and could hand them to the consumers first, out of order.
        self._turn = asyncio.Lock()

    def wake(self) -> None:
        self._wakeup.set()

    async def relay_once(self) -> int:
        async with self._turn, self.pool.acquire() as conn, conn.transaction():
            # Several relays may run; one publishes at a time so that events keep
            # their order on the bus, and the others stand by.
            if self._exclusive and not await conn.fetchval("SELECT pg_try_advisory_xact_lock(7340)"):
                return 0
            rows = await conn.fetch(
                """DELETE FROM outbox WHERE id IN (
                       SELECT id FROM outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
                   RETURNING id, payload, created_at""",
                self._batch,
            )
            if rows:
                events = [r["payload"] for r in sorted(rows, key=lambda r: r["id"])]
                await self._publish(events)
                now = datetime.now(UTC)
                for row in rows:
                    OUTBOX_LAG.observe((now - row["created_at"]).total_seconds())
        return len(rows)

    async def drain(self) -> None:
        while await self.relay_once():
            pass

    async def flush(self, timeout: float = 5.0) -> None:
        """Return once every event committed before the call has been published (by this
        relay's loop, woken here), or after `timeout` seconds (a consumer may be failing)."""
        last = await self.pool.fetchval("SELECT max(id) FROM outbox")
        deadline = asyncio.get_running_loop().time() + timeout
        while last is not None and await self.pool.fetchval("SELECT EXISTS (SELECT 1 FROM outbox WHERE id <= $1)",
                                                           last):
            if asyncio.get_running_loop().time() > deadline:
                log.warning("outbox not flushed in time", up_to=last)
                return
            self.wake()
            await asyncio.sleep(0.002)

    async def run(self, idle_seconds: float = 1.0) -> None:
        """Relay until cancelled: woken at each commit, and every `idle_seconds` anyway."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), idle_seconds)
            self._wakeup.clear()
            try:
                await self.drain()
            except Exception:
                log.exception("outbox relay failed; retrying")
                await asyncio.sleep(idle_seconds)
