"""Each user's notification inbox, on PostgreSQL: one row per event id, however
often the event arrives, numbered by a per-inbox `seq` that clients resume from."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from tickerdesk.app.ports import Notification
from tickerdesk.codec import decode_event, envelope_of
from tickerdesk.domain.events import Event


class PgInbox:
    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool

    async def store(self, events: Sequence[Event]) -> list[Notification]:
        """Store events once; return their notifications, in `seq` order.

        An event stored before (a redelivery) comes back with its original `seq`, so a
        notifier that died between storing and pushing pushes it now; connections drop
        any `seq` they already sent."""
        if not events:
            return []
        envelopes = [envelope_of(e) for e in events]
        rows = await self.pool.fetch(
            """INSERT INTO notifications AS n (user_id, event_id, type, payload, created_at)
               SELECT u, e, t, p, o
               FROM unnest($1::text[], $2::uuid[], $3::text[], $4::jsonb[], $5::timestamptz[])
                    WITH ORDINALITY AS x(u, e, t, p, o, i)
               ORDER BY i
               ON CONFLICT (user_id, event_id) DO UPDATE SET type = n.type  -- a no-op, to return the row
               RETURNING seq, event_id::text""",
            [e.user_id for e in events], [e.id for e in events], [str(e.type) for e in events],
            envelopes, [e.occurred_at for e in events],
        )
        by_id = {e.id: e for e in events}
        return sorted((Notification(r["seq"], by_id[r["event_id"]]) for r in rows), key=lambda n: n.seq)

    async def after(self, user_id: str, *, after: int | None, limit: int) -> list[Notification]:
        """The user's notifications after `after` (a `seq`), oldest first."""
        rows = await self.pool.fetch(
            """SELECT seq, payload FROM notifications WHERE user_id = $1 AND seq > $2
               ORDER BY seq LIMIT $3""",
            user_id, after or 0, limit,
        )
        return [Notification(r["seq"], decode_event(r["payload"])) for r in rows]
