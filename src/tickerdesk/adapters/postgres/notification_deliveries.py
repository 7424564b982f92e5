"""Email, push and SMS deliveries, on PostgreSQL.

A delivery is one event for one channel and target (`notification_deliveries_once`:
a redelivered event adds nothing). Senders claim due deliveries of their channel with
`FOR UPDATE SKIP LOCKED` and, in the same statement, lease them (`leased_until`): the
claim commits at once (no connection is held while sending), other senders skip them
until the lease runs out, and a sender that dies mid-send leaves them to be retried
then. Results are fenced by the attempt count the claim saw, so a late sender whose
lease ran out cannot overwrite what a newer attempt recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from tickerdesk.app.ports import DueNotification, PushTarget
from tickerdesk.codec import decode_event, encode_event
from tickerdesk.domain.notifications import Channel, PlannedDelivery

MAX_ERROR_CHARS = 500

# The claimed rows, with the push subscription a push delivery goes to (gone: NULLs).
_CLAIMED = """
    SELECT c.user_id, c.delivery_id, c.payload, c.channel, c.recipient, c.group_key, c.attempts,
           s.subscription_id::text AS subscription_id, s.endpoint, s.p256dh, s.auth
    FROM claimed c
    LEFT JOIN push_subscriptions s
      ON c.channel = 'push' AND s.user_id = c.user_id AND s.subscription_id::text = c.target
    ORDER BY c.delivery_id"""


def _due(row: asyncpg.Record) -> DueNotification:
    push = None
    if row["subscription_id"] is not None:
        push = PushTarget(row["subscription_id"], row["endpoint"], row["p256dh"], row["auth"])
    return DueNotification(row["user_id"], row["delivery_id"], decode_event(row["payload"]), Channel(row["channel"]),
                           row["recipient"], row["group_key"], row["attempts"], push)


def _view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "deliveryId": row["delivery_id"],
        "eventId": row["event_id"],
        "eventType": row["event_type"],
        "channel": row["channel"],
        "recipient": row["recipient"],
        "status": row["status"],
        "attempts": row["attempts"],
        "lastError": row["last_error"],
        "nextAttemptAt": row["next_attempt_at"] if row["status"] == "pending" else None,
        "sentWith": row["sent_with"],
        "createdAt": row["created_at"],
        "deliveredAt": row["delivered_at"],
    }


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


class PgNotificationDeliveries:
    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool

    async def enqueue(self, planned: Sequence[PlannedDelivery], *, group_seconds: float) -> int:
        if not planned:
            return 0
        status = await self.pool.execute(
            """INSERT INTO notification_deliveries
                   (user_id, event_id, event_type, channel, target, recipient, group_key, payload, next_attempt_at)
               SELECT u, e, t, c, g, r, k, p,
                      greatest(coalesce(nb, now()), CASE WHEN k IS NULL THEN now()
                                                         ELSE now() + make_interval(secs => $10) END)
               FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                           $8::jsonb[], $9::timestamptz[]) WITH ORDINALITY AS x(u, e, t, c, g, r, k, p, nb, n)
               ORDER BY n
               ON CONFLICT ON CONSTRAINT notification_deliveries_once DO NOTHING""",
            [d.user_id for d in planned], [d.event.id for d in planned], [str(d.event.type) for d in planned],
            [str(d.channel) for d in planned], [d.target for d in planned], [d.recipient for d in planned],
            [d.group_key for d in planned], [encode_event(d.event) for d in planned],
            [d.not_before for d in planned], float(group_seconds),
        )
        return _count(status)

    async def claim_due(self, channel: Channel, limit: int, *, lease_seconds: float) -> list[DueNotification]:
        rows = await self.pool.fetch(
            """WITH due AS (
                   SELECT user_id, delivery_id FROM notification_deliveries
                   WHERE channel = $1 AND status = 'pending' AND next_attempt_at <= now()
                     AND (leased_until IS NULL OR leased_until <= now())
                   ORDER BY next_attempt_at, delivery_id
                   LIMIT $2
                   FOR UPDATE SKIP LOCKED),
               claimed AS (
                   UPDATE notification_deliveries d SET leased_until = now() + make_interval(secs => $3)
                   FROM due WHERE d.user_id = due.user_id AND d.delivery_id = due.delivery_id
                   RETURNING d.*)""" + _CLAIMED,
            str(channel), limit, float(lease_seconds),
        )
        return [_due(r) for r in rows]

    async def claim_group(self, delivery: DueNotification, *, lease_seconds: float) -> list[DueNotification]:
        if delivery.group_key is None:
            return []
        rows = await self.pool.fetch(
            """WITH members AS (
                   SELECT user_id, delivery_id FROM notification_deliveries
                   WHERE user_id = $1 AND channel = $2 AND group_key = $3 AND status = 'pending' AND attempts = 0
                     AND delivery_id <> $4 AND (leased_until IS NULL OR leased_until <= now())
                   FOR UPDATE SKIP LOCKED),
               claimed AS (
                   UPDATE notification_deliveries d SET leased_until = now() + make_interval(secs => $5)
                   FROM members WHERE d.user_id = members.user_id AND d.delivery_id = members.delivery_id
                   RETURNING d.*)""" + _CLAIMED,
            delivery.user_id, str(delivery.channel), delivery.group_key, delivery.delivery_id, float(lease_seconds),
        )
        return [_due(r) for r in rows]

    async def mark_delivered(self, delivery: DueNotification, carried: Sequence[DueNotification] = ()) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            status = await conn.execute(
                """UPDATE notification_deliveries
                   SET status = 'delivered', attempts = attempts + 1, last_error = NULL, delivered_at = now(),
                       leased_until = NULL
                   WHERE user_id = $1 AND delivery_id = $2 AND status = 'pending' AND attempts = $3""",
                delivery.user_id, delivery.delivery_id, delivery.attempts,
            )
            if carried:
                await conn.execute(
                    """UPDATE notification_deliveries
                       SET status = 'delivered', attempts = attempts + 1, delivered_at = now(), sent_with = $2,
                           leased_until = NULL
                       WHERE user_id = $1 AND delivery_id = ANY($3::bigint[]) AND status = 'pending'""",
                    delivery.user_id, delivery.delivery_id, [d.delivery_id for d in carried],
                )
        return _count(status) == 1

    async def mark_failed_attempt(self, delivery: DueNotification, *, error: str,
                                  next_attempt_at: datetime | None) -> bool:
        status = await self.pool.execute(
            """UPDATE notification_deliveries
               SET attempts = attempts + 1, last_error = $4, leased_until = NULL,
                   status = CASE WHEN $5::timestamptz IS NULL THEN 'failed' ELSE 'pending' END,
                   next_attempt_at = coalesce($5::timestamptz, next_attempt_at)
               WHERE user_id = $1 AND delivery_id = $2 AND status = 'pending' AND attempts = $3""",
            delivery.user_id, delivery.delivery_id, delivery.attempts, error[:MAX_ERROR_CHARS], next_attempt_at,
        )
        return _count(status) == 1

    async def release(self, deliveries: Sequence[DueNotification]) -> None:
        if deliveries:
            await self.pool.execute(
                """UPDATE notification_deliveries SET leased_until = NULL
                   FROM unnest($1::text[], $2::bigint[]) AS x(u, i)
                   WHERE user_id = x.u AND delivery_id = x.i AND status = 'pending'""",
                [d.user_id for d in deliveries], [d.delivery_id for d in deliveries],
            )

    async def page(self, user_id: str, *, limit: int, cursor: int | None) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            """SELECT delivery_id, event_id::text, event_type, channel, recipient, status, attempts, last_error,
                      next_attempt_at, sent_with, created_at, delivered_at
               FROM notification_deliveries
               WHERE user_id = $1 AND ($2::bigint IS NULL OR delivery_id < $2)
               ORDER BY delivery_id DESC LIMIT $3""",
            user_id, cursor, limit,
        )
        return [_view(r) for r in rows]
