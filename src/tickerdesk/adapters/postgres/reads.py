"""The read side of the books: every query filters by user first, and pages by a cursor.

Also the price feed's writer (last prices, each folded into its one-minute bar) and the
chart bars read from those."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from tickerdesk.adapters.postgres.rows import TRADE_COLUMNS, balance_from_row, order_from_row, position_from_row
from tickerdesk.app.ports import Bar
from tickerdesk.domain.accounting import Balance, Position
from tickerdesk.domain.instruments import Instrument
from tickerdesk.domain.money import plain
from tickerdesk.domain.orders import Order

# The minute of a tick at $3 (None: the statement's now()), on the grid of
# app/price_bars.GRID_ORIGIN, which every chart interval shares.
_MINUTE = "date_bin('1 minute', coalesce($3::timestamptz, now()), timestamptz '2000-01-01 00:00:00Z')"
# The last prices, and each as a tick at $3 folded into its symbol's bar of that minute.
# Only symbols the UPDATE matched get a tick, so an unknown symbol records nothing.
_SAVED = """
    saved AS (
        UPDATE instruments i SET last_price = t.p, price_updated_at = coalesce($3::timestamptz, now())
        FROM unnest($1::text[], $2::numeric[]) AS t(s, p) WHERE i.symbol = t.s
        RETURNING i.symbol, t.p)"""
# Two changes of a symbol may arrive out of time order (the walk's writes are spawned
# tasks; the venue-sim's go through the broker): the tick's own time decides, so a late
# earlier tick takes `open` and leaves `close` alone. Of two ticks stamped alike (the
# same microsecond), both count and the later write's price is the one open or close shows.
_TICKS = f"""
    INSERT INTO price_bars_1m AS b (symbol, minute, open, high, low, close, ticks, first_at, last_at)
    SELECT symbol, {_MINUTE}, p, p, p, p, 1, coalesce($3::timestamptz, now()), coalesce($3::timestamptz, now())
    FROM saved
    ON CONFLICT (symbol, minute) DO UPDATE SET
        open = CASE WHEN excluded.first_at <= b.first_at THEN excluded.open ELSE b.open END,
        close = CASE WHEN excluded.last_at >= b.last_at THEN excluded.close ELSE b.close END,
        high = greatest(b.high, excluded.high), low = least(b.low, excluded.low), ticks = b.ticks + 1,
        first_at = least(b.first_at, excluded.first_at), last_at = greatest(b.last_at, excluded.last_at)"""
SAVE_PRICES = f"WITH {_SAVED} {_TICKS}"
# The same, and up to $5 bars older than $4 days deleted, found through the primary key
# symbol by symbol (a short index range each, however large the table): no table scan.
# Never the minute being written: a statement that both deletes and upserts one row does
# only one of the two, and PostgreSQL does not say which.
SAVE_PRICES_AND_PRUNE = f"""
    WITH pruned AS (
        DELETE FROM price_bars_1m WHERE ctid = ANY(ARRAY(
            SELECT ctid FROM price_bars_1m
            WHERE symbol = ANY(ARRAY(SELECT symbol FROM instruments))
              AND minute < now() - make_interval(days => $4::int) AND minute <> {_MINUTE}
            LIMIT $5::int))
        RETURNING 1),
    {_SAVED},
    ticked AS ({_TICKS} RETURNING 1)
    SELECT count(*) FROM pruned"""
# Bars on a grid of $2 from $3 (date_bin), from the one-minute bars in [$4, $5): the app
# asks only for whole minutes on the same grid, so every minute falls in one bar whole.
# Open and close are those of the first and last minute: the least and greatest
# [epoch, price] pair, so every aggregate streams in constant memory, with no sort
# inside a bar.
BARS = """
    SELECT date_bin($2::interval, minute, $3::timestamptz) AS start,
           (min(ARRAY[extract(epoch FROM minute), open]))[2] AS open, max(high) AS high, min(low) AS low,
           (max(ARRAY[extract(epoch FROM minute), close]))[2] AS close, sum(ticks)::int AS ticks
    FROM price_bars_1m WHERE symbol = $1 AND minute >= $4 AND minute < $5
    GROUP BY 1 ORDER BY 1"""


class BarRetention:
    """When the writer prunes expired one-minute bars: at most every `every_seconds`,
    `batch` at a time, sooner again while a batch comes back full (a backlog, e.g. after
    the retention was shortened). `days` 0 keeps every bar."""

    def __init__(self, days: int, every_seconds: float = 60.0, batch: int = 10_000):
        self.days, self.every_seconds, self.batch = days, every_seconds, batch
        self._next = 0.0

    def prune_due(self) -> bool:
        if self.days <= 0 or time.monotonic() < self._next:
            return False
        self._next = time.monotonic() + self.every_seconds  # before the write: one pruner at a time
        return True

    def pruned(self, count: int) -> None:
        if count >= self.batch:
            self._next = 0.0


class PgQueries:
    def __init__(self, pool: asyncpg.Pool, *, bar_retention_days: int = 0):
        self.pool = pool
        self.retention = BarRetention(bar_retention_days)

    async def instruments(self) -> tuple[dict[str, Instrument], dict[str, Decimal]]:
        rows = await self.pool.fetch("SELECT symbol, name, lot_size, active, last_price FROM instruments")
        return (
            {r["symbol"]: Instrument(r["symbol"], r["name"], r["lot_size"], r["active"]) for r in rows},
            {r["symbol"]: r["last_price"] for r in rows},
        )

    async def save_prices(self, prices: dict[str, Decimal], at: datetime | None = None) -> None:
        """The last prices, each folded into its minute's bar, in one statement; now and
        then the same statement also prunes a bounded batch of expired bars (see BarRetention)."""
        if not prices:
            return
        saved = (list(prices), list(prices.values()), at)
        if self.retention.prune_due():
            self.retention.pruned(await self.pool.fetchval(SAVE_PRICES_AND_PRUNE, *saved, self.retention.days,
                                                           self.retention.batch))
        else:
            await self.pool.execute(SAVE_PRICES, *saved)

    async def bars(self, symbol: str, step: timedelta, origin: datetime, since: datetime,
                   until: datetime) -> list[Bar]:
        rows = await self.pool.fetch(BARS, symbol, step, origin, since, until)
        return [Bar(r["start"], r["open"], r["high"], r["low"], r["close"], r["ticks"]) for r in rows]

    async def trade(self, user_id: str, trade_id: str) -> tuple[Order, list[dict[str, Any]]] | None:
        row = await self.pool.fetchrow(
            f"SELECT {TRADE_COLUMNS} FROM trades WHERE user_id = $1 AND trade_id = $2", user_id, trade_id
        )
        if row is None:
            return None
        executions = await self.pool.fetch(
            """SELECT execution_id, quantity, price, executed_at FROM executions
               WHERE user_id = $1 AND trade_id = $2 ORDER BY executed_at, execution_id""",
            user_id, trade_id,
        )
        return order_from_row(row), [
            {"executionId": e["execution_id"], "quantity": e["quantity"], "price": plain(e["price"]),
             "executedAt": e["executed_at"]}
            for e in executions
        ]

    async def trades(
        self,
        user_id: str,
        *,
        statuses: list[str] | None,
        symbol: str | None,
        cursor: str | None,
        limit: int,
    ) -> list[Order]:
        """Newest first. Trade ids are time-ordered, so the id is also the cursor."""
        rows = await self.pool.fetch(
            f"""SELECT {TRADE_COLUMNS} FROM trades
                WHERE user_id = $1
                  AND ($2::text[] IS NULL OR status = ANY($2))
                  AND ($3::text IS NULL OR symbol = $3)
                  AND ($4::uuid IS NULL OR trade_id < $4)
                ORDER BY trade_id DESC LIMIT $5""",
            user_id, statuses, symbol, cursor, limit,
        )
        return [order_from_row(r) for r in rows]

    async def open_orders(self) -> list[Order]:
        """Every open order, oldest first: what a restarted venue must be told again."""
        rows = await self.pool.fetch(
            f"""SELECT {TRADE_COLUMNS} FROM trades
                WHERE status IN ('pending', 'partiallyExecuted') ORDER BY trade_id"""
        )
        return [order_from_row(r) for r in rows]

    async def balance(self, user_id: str) -> Balance:
        return balance_from_row(
            await self.pool.fetchrow("SELECT available, held FROM accounts WHERE user_id = $1", user_id)
        )

    async def ledger(self, user_id: str, *, cursor: int | None, limit: int) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            """SELECT entry_id, kind, amount, trade_id::text AS trade_id, reference, created_at FROM ledger
               WHERE user_id = $1 AND ($2::bigint IS NULL OR entry_id < $2)
               ORDER BY entry_id DESC LIMIT $3""",
            user_id, cursor, limit,
        )
        return [
            {"entryId": r["entry_id"], "kind": r["kind"], "amount": plain(r["amount"]), "tradeId": r["trade_id"],
             "reference": r["reference"], "createdAt": r["created_at"]}
            for r in rows
        ]

    async def positions(self, user_id: str) -> list[Position]:
        rows = await self.pool.fetch(
            """SELECT symbol, quantity, held_quantity, average_price, realized_pnl FROM positions
               WHERE user_id = $1 AND quantity > 0 ORDER BY symbol""",
            user_id,
        )
        return [position_from_row(r["symbol"], r) for r in rows]
