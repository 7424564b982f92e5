"""The transaction-history read model: one row per trade, projected from trade events.

It may live in its own database (`TICKERDESK_HISTORY_DATABASE_URL`). Events may
arrive twice or out of order; a row only moves forward, to an event with a later
id (ids are time-ordered), so replays and stragglers change nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from tickerdesk.app.views import trade_view
from tickerdesk.domain.events import Event, TradeCancelRequested, TradeEvent


class PgHistory:
    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool

    async def project(self, events: Sequence[Event]) -> None:
        latest = _latest_per_trade([e for e in events if isinstance(e, TradeEvent)
                                    and not isinstance(e, TradeCancelRequested)])
        if not latest:
            return
        await self.pool.execute(
            """INSERT INTO trade_history AS h (user_id, trade_id, symbol, status, filled_quantity, trade,
                   last_event_id, created_at, updated_at)
               SELECT t->>'userId', (t->>'tradeId')::uuid, t->>'stockSymbol', t->>'status',
                      (t->>'filledQuantity')::bigint, t, e, (t->>'createdAt')::timestamptz,
                      (t->>'updatedAt')::timestamptz
               FROM unnest($1::jsonb[], $2::uuid[]) AS x(t, e)
               ORDER BY e
               ON CONFLICT (user_id, trade_id) DO UPDATE SET status = excluded.status,
                   filled_quantity = excluded.filled_quantity, trade = excluded.trade,
                   last_event_id = excluded.last_event_id, updated_at = excluded.updated_at,
                   projected_at = now()
               WHERE h.last_event_id < excluded.last_event_id""",
            [trade_view(e.order) for e in latest],
            [e.id for e in latest],
        )

    async def trades(
        self,
        user_id: str,
        *,
        statuses: list[str],
        symbol: str | None,
        since: datetime | None,
        until: datetime | None,
        cursor: str | None,
        limit: int,
        side: str | None = None,
    ) -> list[dict[str, Any]]:
        # The side is read from the stored trade: a filter within one user's rows needs no column of its own.
        rows = await self.pool.fetch(
            """SELECT trade FROM trade_history
               WHERE user_id = $1 AND status = ANY($2)
                 AND ($3::text IS NULL OR symbol = $3)
                 AND ($4::timestamptz IS NULL OR created_at >= $4)
                 AND ($5::timestamptz IS NULL OR created_at < $5)
                 AND ($6::uuid IS NULL OR trade_id < $6)
                 AND ($8::text IS NULL OR trade->>'tradeType' = $8)
               ORDER BY trade_id DESC LIMIT $7""",
            user_id, statuses, symbol, since, until, cursor, limit, side,
        )
        return [r["trade"] for r in rows]


def _latest_per_trade(events: list[TradeEvent]) -> list[TradeEvent]:
    """One event per trade (the newest), since one statement cannot update a row twice."""
    latest: dict[tuple[str, str], TradeEvent] = {}
    for event in events:
        key = (event.user_id, event.order.trade_id)
        if key not in latest or latest[key].id < event.id:
            latest[key] = event
    return list(latest.values())
