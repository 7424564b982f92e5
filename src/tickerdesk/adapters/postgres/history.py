"""The transaction-history read model: one row per trade, projected from trade events.

It may live in its own database (`TICKERDESK_HISTORY_DATABASE_URL`). Events may
arrive twice or out of order; a row only moves forward, to an event with a later
id (ids are time-ordered) and no less `orders.progress`, so replays, stragglers and
a rebuild running beside the projector change nothing they should not.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from tickerdesk.adapters.postgres.rows import TRADE_COLUMNS, order_from_row
from tickerdesk.app.views import trade_view
from tickerdesk.domain.events import Event, TradeCancelRequested, TradeEvent
from tickerdesk.domain.orders import PROGRESS_STEP, Order

# A rebuilt row that no event has touched yet: any event id is later than this.
NO_EVENT = "00000000-0000-0000-0000-000000000000"


def _progress_sql(row: str) -> str:
    """`orders.progress` of a row, in SQL."""
    return (f"(CASE {row}.status WHEN 'pending' THEN 0 WHEN 'partiallyExecuted' THEN 1 ELSE 2 END)::bigint"
            f" * {PROGRESS_STEP} + {row}.filled_quantity")


class PgHistory:
    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool

    async def project(self, events: Sequence[Event]) -> None:
        latest = _latest_per_trade([e for e in events if isinstance(e, TradeEvent)
                                    and not isinstance(e, TradeCancelRequested)])
        if not latest:
            return
        await self.pool.execute(
            f"""INSERT INTO trade_history AS h (user_id, trade_id, symbol, status, filled_quantity, trade,
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
               WHERE h.last_event_id < excluded.last_event_id
                 AND {_progress_sql("h")} <= {_progress_sql("excluded")}""",
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

    async def restore(self, orders: Sequence[Order]) -> None:
        if not orders:
            return
        await self.pool.execute(
            f"""INSERT INTO trade_history AS h (user_id, trade_id, symbol, status, filled_quantity, trade,
                   last_event_id, created_at, updated_at)
               SELECT t->>'userId', (t->>'tradeId')::uuid, t->>'stockSymbol', t->>'status',
                      (t->>'filledQuantity')::bigint, t, '{NO_EVENT}', (t->>'createdAt')::timestamptz,
                      (t->>'updatedAt')::timestamptz
               FROM unnest($1::jsonb[]) AS x(t)
               ON CONFLICT (user_id, trade_id) DO UPDATE SET status = excluded.status,
                   filled_quantity = excluded.filled_quantity, trade = excluded.trade,
                   updated_at = excluded.updated_at, projected_at = now()
               WHERE {_progress_sql("h")} <= {_progress_sql("excluded")}""",
            [trade_view(order) for order in orders],
        )

    async def summary(self, user_id: str) -> dict[str, tuple[str, int]]:
        rows = await self.pool.fetch(
            """SELECT trade_id::text, status, filled_quantity FROM trade_history
               WHERE user_id = $1 AND status <> 'pending'""", user_id)
        return {r["trade_id"]: (r["status"], r["filled_quantity"]) for r in rows}


def _latest_per_trade(events: list[TradeEvent]) -> list[TradeEvent]:
    """One event per trade (the newest), since one statement cannot update a row twice."""
    latest: dict[tuple[str, str], TradeEvent] = {}
    for event in events:
        key = (event.user_id, event.order.trade_id)
        if key not in latest or latest[key].id < event.id:
            latest[key] = event
    return list(latest.values())


async def count_trades(pool: asyncpg.Pool, user_id: str | None = None) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM trades WHERE $1::text IS NULL OR user_id = $1", user_id))


async def trades_in_batches(pool: asyncpg.Pool, user_id: str | None = None,
                            size: int = 500) -> AsyncIterator[list[Order]]:
    """Every trade (of one user, or of everyone) as the truth holds it, `size` at a time, in
    key order (a keyset walk: each batch is one indexed range read, however many there are)."""
    after: tuple[str, str] | None = None
    while True:
        rows = await pool.fetch(
            f"""SELECT {TRADE_COLUMNS} FROM trades
                WHERE ($1::text IS NULL OR user_id = $1)
                  AND ($2::text IS NULL OR (user_id, trade_id) > ($2, $3::uuid))
                ORDER BY user_id, trade_id LIMIT $4""",
            user_id, after[0] if after else None, after[1] if after else None, size)
        if not rows:
            return
        yield [order_from_row(r) for r in rows]
        after = (rows[-1]["user_id"], rows[-1]["trade_id"])
