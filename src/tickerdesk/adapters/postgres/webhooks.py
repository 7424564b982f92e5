"""Webhooks and their deliveries, on PostgreSQL.

A delivery is one event for one webhook (`webhook_deliveries_once`: a redelivered
event adds nothing). Senders claim due deliveries with `FOR UPDATE SKIP LOCKED`
and, in the same statement, push `next_attempt_at` one lease into the future: the
claim commits at once (no connection is held while sending), other senders do
not see the delivery until the lease runs out, and a sender that dies mid-send
leaves the delivery to be retried when it does. Marking a result is fenced by the
attempt count the claim saw, so a late sender whose lease ran out cannot
overwrite what a newer attempt recorded.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from tickerdesk.adapters.webhook_signatures import new_secret
from tickerdesk.codec import envelope_of
from tickerdesk.domain.errors import InvalidRequest
from tickerdesk.domain.events import Event

MAX_WEBHOOKS_PER_USER = 20
# The first key of the per-user advisory lock that serializes registrations; the
# second is a hash of the user id (two users sharing a hash only wait for each other).
REGISTER_LOCK = 7341
MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class DueDelivery:
    """A claimed delivery, with what the sender needs to POST it."""

    user_id: str
    delivery_id: int
    webhook_id: str
    event_id: str
    event_type: str
    payload: dict[str, Any]
    attempts: int  # as claimed: attempts made before this one
    url: str
    secret: str


def _webhook_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "webhookId": row["webhook_id"],
        "url": row["url"],
        "eventTypes": list(row["event_types"]) if row["event_types"] is not None else None,
        "createdAt": row["created_at"],
    }


def _delivery_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "deliveryId": row["delivery_id"],
        "eventId": row["event_id"],
        "eventType": row["event_type"],
        "status": row["status"],
        "attempts": row["attempts"],
        "lastStatusCode": row["last_status_code"],
        "lastError": row["last_error"],
        "nextAttemptAt": row["next_attempt_at"] if row["status"] == "pending" else None,
        "createdAt": row["created_at"],
        "deliveredAt": row["delivered_at"],
    }


def _count(status: str) -> int:
    """Rows affected, from a command tag such as 'INSERT 0 3' or 'UPDATE 2'."""
    return int(status.rsplit(" ", 1)[-1])


class PgWebhooks:
    def __init__(self, pool: asyncpg.Pool, *, max_per_user: int = MAX_WEBHOOKS_PER_USER):
        self.pool = pool
        self.max_per_user = max_per_user

    # -- the API's side -------------------------------------------------------

    async def register(self, user_id: str, url: str, event_types: list[str] | None) -> dict[str, Any]:
        """A new active webhook. The result is the only place its secret is ever shown."""
        secret = new_secret()
        # Count-then-insert holds only if one registration per user runs at a time: a
        # transaction-scoped lock per user serializes them (other users' run alongside),
        # and the INSERT is a statement of its own so that its snapshot, taken after
        # the lock, sees the webhooks the previous holder committed.
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", REGISTER_LOCK, user_id)
            row = await conn.fetchrow(
                """INSERT INTO webhooks (user_id, webhook_id, url, secret, event_types)
                   SELECT $1, $2, $3, $4, $5::text[]
                   WHERE (SELECT count(*) FROM webhooks WHERE user_id = $1 AND active) < $6
                   RETURNING webhook_id::text, url, event_types, created_at""",
                user_id, str(uuid.uuid4()), url, secret, event_types, self.max_per_user,
            )
        if row is None:
            raise InvalidRequest(f"a user may have at most {self.max_per_user} webhooks; delete one first")
        return {**_webhook_view(row), "secret": secret}

    async def list(self, user_id: str) -> list[dict[str, Any]]:
        """The user's active webhooks, oldest first, without their secrets."""
        rows = await self.pool.fetch(
            """SELECT webhook_id::text, url, event_types, created_at FROM webhooks
               WHERE user_id = $1 AND active ORDER BY created_at, webhook_id""",
            user_id,
        )
        return [_webhook_view(r) for r in rows]

    async def delete(self, user_id: str, webhook_id: str) -> bool:
        """Deactivate the webhook; its pending deliveries end `failed`. Past deliveries stay."""
        async with self.pool.acquire() as conn, conn.transaction():
            found = await conn.fetchval(
                """UPDATE webhooks SET active = false
                   WHERE user_id = $1 AND webhook_id = $2 AND active RETURNING true""",
                user_id, webhook_id,
            )
            if not found:
                return False
            await conn.execute(
                """UPDATE webhook_deliveries SET status = 'failed', last_error = 'webhook deleted'
                   WHERE user_id = $1 AND webhook_id = $2 AND status = 'pending'""",
                user_id, webhook_id,
            )
            return True

    async def deliveries(
        self, user_id: str, webhook_id: str, *, limit: int, cursor: int | None = None
    ) -> builtins.list[dict[str, Any]] | None:  # `list` here is the method above
        """A webhook's deliveries, newest first (the delivery id is the cursor); None if
        the user has no such webhook. A deleted webhook's deliveries stay visible."""
        async with self.pool.acquire() as conn:
            exists = await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM webhooks WHERE user_id = $1 AND webhook_id = $2)",
                user_id, webhook_id,
            )
            if not exists:
                return None
            rows = await conn.fetch(
                """SELECT delivery_id, event_id::text, event_type, status, attempts, last_status_code,
                          last_error, next_attempt_at, created_at, delivered_at
                   FROM webhook_deliveries
                   WHERE user_id = $1 AND webhook_id = $2 AND ($3::bigint IS NULL OR delivery_id < $3)
                   ORDER BY delivery_id DESC LIMIT $4""",
                user_id, webhook_id, cursor, limit,
            )
        return [_delivery_view(r) for r in rows]

    # -- the dispatcher's and sender's side -----------------------------------

    async def enqueue(self, events: Sequence[Event]) -> int:
        """One pending delivery per user-facing event and matching active webhook of
        the event's user. Returns how many were new (repeats of an event add none)."""
        events = [e for e in events if e.user_facing]
        if not events:
            return 0
        # Most users have no webhook: ask which of the batch's users have one (a few ids
        # sent) before encoding and sending any payload, which costs the relay far more.
        hooked = {r[0] for r in await self.pool.fetch(
            "SELECT DISTINCT user_id FROM webhooks WHERE user_id = ANY($1::text[]) AND active",
            list({e.user_id for e in events}))}
        events = [e for e in events if e.user_id in hooked]
        if not events:
            return 0
        status = await self.pool.execute(
            """INSERT INTO webhook_deliveries (user_id, webhook_id, event_id, event_type, payload)
               SELECT w.user_id, w.webhook_id, x.e, x.t, x.p
               FROM unnest($1::text[], $2::uuid[], $3::text[], $4::jsonb[]) WITH ORDINALITY AS x(u, e, t, p, n)
               JOIN webhooks w
                 ON w.user_id = x.u AND w.active AND (w.event_types IS NULL OR x.t = ANY (w.event_types))
               ORDER BY x.n, w.created_at, w.webhook_id
               ON CONFLICT ON CONSTRAINT webhook_deliveries_once DO NOTHING""",
            [e.user_id for e in events], [e.id for e in events], [str(e.type) for e in events],
            [envelope_of(e) for e in events],
        )
        return _count(status)

    async def claim_due(self, limit: int, *, lease_seconds: float = 60.0) -> builtins.list[DueDelivery]:
        """Claim up to `limit` pending deliveries whose time has come, oldest due first,
        and hide them from other senders for `lease_seconds`. A delivery whose webhook
        was deleted meanwhile is failed here instead of returned."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """WITH due AS (
                       SELECT user_id, delivery_id FROM webhook_deliveries
                       WHERE status = 'pending' AND next_attempt_at <= now()
                       ORDER BY next_attempt_at, delivery_id
                       LIMIT $1
                       FOR UPDATE SKIP LOCKED)
                   UPDATE webhook_deliveries d
                   SET next_attempt_at = now() + make_interval(secs => $2),
                       status = CASE WHEN w.active THEN 'pending' ELSE 'failed' END,
                       last_error = CASE WHEN w.active THEN d.last_error ELSE 'webhook deleted' END
                   FROM due, webhooks w
                   WHERE d.user_id = due.user_id AND d.delivery_id = due.delivery_id
                     AND w.user_id = d.user_id AND w.webhook_id = d.webhook_id
                   RETURNING d.user_id, d.delivery_id, d.webhook_id::text, d.event_id::text, d.event_type,
                             d.payload, d.attempts, w.url, w.secret, w.active""",
                limit, float(lease_seconds),
            )
        return [
            DueDelivery(
                r["user_id"], r["delivery_id"], r["webhook_id"], r["event_id"], r["event_type"],
                r["payload"], r["attempts"], r["url"], r["secret"],
            )
            for r in sorted(rows, key=lambda r: r["delivery_id"])
            if r["active"]
        ]

    async def mark_delivered(self, delivery: DueDelivery, *, status_code: int) -> bool:
        """Record a successful attempt. False if another attempt got there first."""
        status = await self.pool.execute(
            """UPDATE webhook_deliveries
               SET status = 'delivered', attempts = attempts + 1, last_status_code = $4,
                   last_error = NULL, delivered_at = now()
               WHERE user_id = $1 AND delivery_id = $2 AND status = 'pending' AND attempts = $3""",
            delivery.user_id, delivery.delivery_id, delivery.attempts, status_code,
        )
        return _count(status) == 1

    async def mark_failed_attempt(
        self,
        delivery: DueDelivery,
        *,
        status_code: int | None,
        error: str,
        next_attempt_at: datetime | None,
    ) -> bool:
        """Record a failed attempt: retry at `next_attempt_at`, or, if None, fail for good.
        False if another attempt got there first."""
        status = await self.pool.execute(
            """UPDATE webhook_deliveries
               SET attempts = attempts + 1, last_status_code = $4, last_error = $5,
                   status = CASE WHEN $6::timestamptz IS NULL THEN 'failed' ELSE 'pending' END,
                   next_attempt_at = coalesce($6::timestamptz, next_attempt_at)
               WHERE user_id = $1 AND delivery_id = $2 AND status = 'pending' AND attempts = $3""",
            delivery.user_id, delivery.delivery_id, delivery.attempts, status_code,
            error[:MAX_ERROR_CHARS], next_attempt_at,
        )
        return _count(status) == 1
