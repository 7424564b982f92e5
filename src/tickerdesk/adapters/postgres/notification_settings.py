"""Each user's notification preferences, contacts and push subscriptions, on PostgreSQL.

Contacts keep only the HMAC of a pending verification code; every change of a code
(new, attempt, verified) is one conditional statement, so two requests at once cannot
both use an attempt that was the last, nor verify with a code replaced meanwhile.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from typing import Any

import asyncpg

from tickerdesk.app.ports import PendingCode
from tickerdesk.domain.errors import InvalidRequest
from tickerdesk.domain.events import EventType
from tickerdesk.domain.notifications import (
    DEFAULT_CHANNELS,
    NOTIFIABLE,
    Channel,
    ContactKind,
    Preferences,
    QuietHours,
    Targets,
)

MAX_PUSH_SUBSCRIPTIONS = 20


def _preferences(channels: dict[str, Any] | None, quiet: dict[str, Any] | None) -> Preferences:
    if channels is None:
        return Preferences(dict(DEFAULT_CHANNELS), _quiet_hours(quiet))
    chosen: dict[EventType, frozenset[Channel]] = {}
    for event_type in NOTIFIABLE:  # a type added after the row was written gets its default
        stored = channels.get(str(event_type))
        chosen[event_type] = (DEFAULT_CHANNELS[event_type] if stored is None
                              else frozenset(Channel(c) for c in stored if c in Channel.__members__.values()))
    return Preferences(chosen, _quiet_hours(quiet))


def _quiet_hours(stored: dict[str, Any] | None) -> QuietHours | None:
    if stored is None:
        return None
    return QuietHours(time.fromisoformat(stored["start"]), time.fromisoformat(stored["end"]), stored["timeZone"])


def _subscription_view(row: asyncpg.Record) -> dict[str, Any]:
    return {"subscriptionId": row["subscription_id"], "endpoint": row["endpoint"], "createdAt": row["created_at"]}


class PgNotificationSettings:
    def __init__(self, pool: asyncpg.Pool, *, max_push_subscriptions: int = MAX_PUSH_SUBSCRIPTIONS):
        self.pool = pool
        self.max_push_subscriptions = max_push_subscriptions

    # -- preferences ----------------------------------------------------------------

    async def preferences(self, user_id: str) -> Preferences:
        row = await self.pool.fetchrow(
            "SELECT channels, quiet_hours FROM notification_preferences WHERE user_id = $1", user_id)
        return _preferences(row["channels"], row["quiet_hours"]) if row else Preferences()

    async def save_preferences(self, user_id: str, preferences: Preferences) -> None:
        channels = {str(t): sorted(str(c) for c in preferences.of(t)) for t in NOTIFIABLE}
        quiet = preferences.quiet_hours
        stored = None if quiet is None else {"start": quiet.start.strftime("%H:%M"), "end": quiet.end.strftime("%H:%M"),
                                             "timeZone": quiet.time_zone}
        await self.pool.execute(
            """INSERT INTO notification_preferences (user_id, channels, quiet_hours, updated_at)
               VALUES ($1, $2, $3, now())
               ON CONFLICT (user_id) DO UPDATE
               SET channels = excluded.channels, quiet_hours = excluded.quiet_hours, updated_at = now()""",
            user_id, channels, stored,
        )

    # -- contacts -------------------------------------------------------------------

    async def contacts(self, user_id: str) -> dict[ContactKind, tuple[str, bool]]:
        rows = await self.pool.fetch(
            "SELECT kind, address, verified_at IS NOT NULL AS verified FROM notification_contacts WHERE user_id = $1",
            user_id)
        return {ContactKind(r["kind"]): (r["address"], r["verified"]) for r in rows}

    async def new_code(self, user_id: str, kind: ContactKind, address: str, code_hash: str, *, now: datetime,
                       expires_at: datetime, resend_after: timedelta) -> datetime | None:
        # One code per contact kind per `resend_after`, whatever the address: switching
        # between two addresses cannot flood either.
        stored = await self.pool.fetchval(
            """INSERT INTO notification_contacts AS c
                   (user_id, kind, address, verified_at, code_hash, code_expires_at, code_attempts, code_sent_at,
                    updated_at)
               VALUES ($1, $2, $3, NULL, $4, $5, 0, $6, $6)
               ON CONFLICT (user_id, kind) DO UPDATE
               SET address = excluded.address, verified_at = NULL, code_hash = excluded.code_hash,
                   code_expires_at = excluded.code_expires_at, code_attempts = 0,
                   code_sent_at = excluded.code_sent_at, updated_at = excluded.updated_at
               WHERE c.code_sent_at IS NULL OR c.code_sent_at <= excluded.code_sent_at - $7::interval
               RETURNING true""",
            user_id, str(kind), address, code_hash, expires_at, now, resend_after,
        )
        if stored:
            return None
        sent_at = await self.pool.fetchval(
            "SELECT code_sent_at FROM notification_contacts WHERE user_id = $1 AND kind = $2", user_id, str(kind))
        return (sent_at or now) + resend_after

    async def take_attempt(self, user_id: str, kind: ContactKind, max_attempts: int) -> PendingCode | None:
        row = await self.pool.fetchrow(
            """UPDATE notification_contacts SET code_attempts = code_attempts + 1
               WHERE user_id = $1 AND kind = $2 AND code_hash IS NOT NULL AND verified_at IS NULL
                 AND code_attempts < $3
               RETURNING address, code_hash, code_expires_at, code_attempts""",
            user_id, str(kind), max_attempts,
        )
        if row is None:
            return None
        return PendingCode(row["address"], row["code_hash"], row["code_expires_at"], row["code_attempts"])

    async def mark_verified(self, user_id: str, kind: ContactKind, code_hash: str, at: datetime) -> bool:
        done = await self.pool.fetchval(
            """UPDATE notification_contacts
               SET verified_at = $4, code_hash = NULL, code_expires_at = NULL, updated_at = $4
               WHERE user_id = $1 AND kind = $2 AND code_hash = $3 AND verified_at IS NULL
               RETURNING true""",
            user_id, str(kind), code_hash, at,
        )
        return bool(done)

    # -- push subscriptions ---------------------------------------------------------

    async def add_push_subscription(self, user_id: str, endpoint: str, p256dh: str, auth: str) -> dict[str, Any]:
        async with self.pool.acquire() as conn, conn.transaction():
            # One registration per user at a time, so the count below holds (as for webhooks).
            await conn.execute("SELECT pg_advisory_xact_lock(7342, hashtext($1))", user_id)
            row = await conn.fetchrow(
                """UPDATE push_subscriptions SET p256dh = $3, auth = $4 WHERE user_id = $1 AND endpoint = $2
                   RETURNING subscription_id::text, endpoint, created_at""",
                user_id, endpoint, p256dh, auth,
            )
            if row is None:
                row = await conn.fetchrow(
                    """INSERT INTO push_subscriptions (user_id, subscription_id, endpoint, p256dh, auth)
                       SELECT $1, $2, $3, $4, $5
                       WHERE (SELECT count(*) FROM push_subscriptions WHERE user_id = $1) < $6
                       RETURNING subscription_id::text, endpoint, created_at""",
                    user_id, str(uuid.uuid4()), endpoint, p256dh, auth, self.max_push_subscriptions,
                )
        if row is None:
            raise InvalidRequest(f"a user may have at most {self.max_push_subscriptions} push subscriptions; "
                                 "delete one first")
        return _subscription_view(row)

    async def push_subscriptions(self, user_id: str) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            """SELECT subscription_id::text, endpoint, created_at FROM push_subscriptions WHERE user_id = $1
               ORDER BY created_at, subscription_id""", user_id)
        return [_subscription_view(r) for r in rows]

    async def delete_push_subscription(self, user_id: str, subscription_id: str) -> bool:
        deleted = await self.pool.fetchval(
            "DELETE FROM push_subscriptions WHERE user_id = $1 AND subscription_id = $2::uuid RETURNING true",
            user_id, subscription_id)
        return bool(deleted)

    # -- the planner's read ---------------------------------------------------------

    async def targets(self, user_ids: Sequence[str]) -> dict[str, Targets]:
        rows = await self.pool.fetch(
            """SELECT u.user_id, p.channels, p.quiet_hours,
                      (SELECT address FROM notification_contacts c
                       WHERE c.user_id = u.user_id AND c.kind = 'email' AND c.verified_at IS NOT NULL) AS email,
                      (SELECT address FROM notification_contacts c
                       WHERE c.user_id = u.user_id AND c.kind = 'phone' AND c.verified_at IS NOT NULL) AS phone,
                      ARRAY(SELECT s.subscription_id::text FROM push_subscriptions s
                            WHERE s.user_id = u.user_id ORDER BY s.created_at, s.subscription_id) AS push
               FROM unnest($1::text[]) AS u(user_id)
               LEFT JOIN notification_preferences p ON p.user_id = u.user_id""",
            list(user_ids),
        )
        return {r["user_id"]: Targets(_preferences(r["channels"], r["quiet_hours"]), r["email"], r["phone"],
                                      tuple(r["push"])) for r in rows}
