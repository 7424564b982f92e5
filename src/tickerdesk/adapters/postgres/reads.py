"""The read side of the books: every query filters by user first, and pages by a cursor."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg

from tickerdesk.adapters.postgres.rows import TRADE_COLUMNS, balance_from_row, order_from_row, position_from_row
from tickerdesk.domain.accounting import Balance, Position
from tickerdesk.domain.instruments import Instrument
from tickerdesk.domain.money import plain
from tickerdesk.domain.orders import Order


class PgQueries:
    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool

    async def instruments(self) -> tuple[dict[str, Instrument], dict[str, Decimal]]:
        rows = await self.pool.fetch("SELECT symbol, name, lot_size, active, last_price FROM instruments")
        return (
            {r["symbol"]: Instrument(r["symbol"], r["name"], r["lot_size"], r["active"]) for r in rows},
            {r["symbol"]: r["last_price"] for r in rows},
        )

    async def save_prices(self, prices: dict[str, Decimal]) -> None:
        await self.pool.execute(
            """UPDATE instruments i SET last_price = t.p, price_updated_at = now()
               FROM unnest($1::text[], $2::numeric[]) AS t(s, p) WHERE i.symbol = t.s""",
            list(prices), list(prices.values()),
        )

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
