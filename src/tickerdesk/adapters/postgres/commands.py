"""The write side: every command is one PostgreSQL transaction that changes state,
appends to the ledger and writes its events to the outbox together.

Placement and funding are single statements (one round trip, autocommit): data-
modifying CTEs take the hold, insert the trade and write ledger and outbox rows.
A hold the balance cannot cover makes the account or position row violate its
CHECK constraint, and the whole statement, trade included, fails. Fills and
cancels are rarer and read before they write, so they use a `UnitOfWork`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal

import asyncpg

from tickerdesk.app.views import rfc3339
from tickerdesk.domain.accounting import LEDGER_DELTAS, Balance, LedgerEntry, LedgerKind, Position
from tickerdesk.domain.errors import InsufficientFunds, InsufficientShares
from tickerdesk.domain.events import Event
from tickerdesk.domain.orders import Order, Side
from tickerdesk.adapters.postgres.rows import TRADE_COLUMNS, balance_from_row, order_from_row, position_from_row

# The balance.updated event, built where the new balance is known: inside the
# statement. `b` is a CTE returning user_id, available, held. Mirrors views.balance_view
# (a unit test keeps the two equal).
BALANCE_EVENT_SQL = """
SELECT {event_id}::uuid, b.user_id, 'balance.updated', jsonb_build_object(
    'id', {event_id}::text, 'type', 'balance.updated', 'userId', b.user_id,
    'occurredAt', {occurred_at}::text,
    'data', jsonb_build_object('userId', b.user_id, 'availableBalance', trim_scale(b.available),
        'heldForTrades', trim_scale(b.held), 'totalBalance', trim_scale(b.available + b.held)))
FROM b"""

PORTFOLIO_EVENT_SQL = """
SELECT {event_id}::uuid, p.user_id, 'portfolio.updated', jsonb_build_object(
    'id', {event_id}::text, 'type', 'portfolio.updated', 'userId', p.user_id,
    'occurredAt', {occurred_at}::text,
    'data', jsonb_build_object('stockSymbol', p.symbol, 'quantity', p.quantity,
        'heldQuantity', p.held_quantity, 'averagePurchasePrice', trim_scale(p.average_price),
        'realizedPnl', trim_scale(p.realized_pnl)))
FROM p"""

# The trade row is inserted from the hold's result, so it exists only if the hold
# was taken. A repeated key makes the INSERT fail on its unique constraint, which
# undoes the hold too: the caller then returns the original trade.
INSERT_TRADE = """
new_trade AS (
    INSERT INTO trades (user_id, trade_id, client_order_id, idempotency_key, request_hash, symbol,
        side, order_type, time_in_force, quantity, limit_price, hold_price, status, created_at,
        updated_at)
    SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'pending', $13, $13 FROM {hold}
    RETURNING trade_id
)"""

PLACE_BUY = f"""
WITH b AS (
    UPDATE accounts SET available = available - $18, held = held + $18, updated_at = $13
    WHERE user_id = $1
    RETURNING user_id, available, held
),
{INSERT_TRADE.format(hold="b")},
journal AS (
    INSERT INTO ledger (user_id, kind, amount, trade_id, created_at)
    SELECT b.user_id, 'hold', $18, t.trade_id, $13 FROM b, new_trade t
),
events AS (
    INSERT INTO outbox (event_id, user_id, type, payload)
    SELECT $14::uuid, b.user_id, 'trade.placed', $15::jsonb FROM b, new_trade
    UNION ALL {BALANCE_EVENT_SQL.format(event_id="$16", occurred_at="$17")}
)
SELECT available, held FROM b"""

PLACE_SELL = f"""
WITH p AS (
    UPDATE positions SET held_quantity = held_quantity + $10, updated_at = $13
    WHERE user_id = $1 AND symbol = $6
    RETURNING user_id, symbol, quantity, held_quantity, average_price, realized_pnl
),
{INSERT_TRADE.format(hold="p")},
events AS (
    INSERT INTO outbox (event_id, user_id, type, payload)
    SELECT $14::uuid, p.user_id, 'trade.placed', $15::jsonb FROM p, new_trade
    UNION ALL {PORTFOLIO_EVENT_SQL.format(event_id="$16", occurred_at="$17")}
)
SELECT quantity, held_quantity FROM p"""

# Funding: the account changes first, the journal row follows from it; a repeated
# reference fails the journal's unique constraint and undoes the change.
_FUNDING_TAIL = f"""
journal AS (
    INSERT INTO ledger (user_id, kind, amount, reference, created_at)
    SELECT b.user_id, $2, $3, $4, $5 FROM b
),
events AS (
    INSERT INTO outbox (event_id, user_id, type, payload)
    {BALANCE_EVENT_SQL.format(event_id="$6", occurred_at="$7")}
)
SELECT available, held FROM b"""

DEPOSIT = f"""
WITH b AS (
    INSERT INTO accounts AS a (user_id, available, held, updated_at) VALUES ($1, $3, 0, $5)
    ON CONFLICT (user_id) DO UPDATE
        SET available = a.available + excluded.available, updated_at = excluded.updated_at
    RETURNING a.user_id, a.available, a.held
),{_FUNDING_TAIL}"""

WITHDRAW = f"""
WITH b AS (
    UPDATE accounts SET available = available - $3, updated_at = $5 WHERE user_id = $1
    RETURNING user_id, available, held
),{_FUNDING_TAIL}"""


def _refusal(order: Order) -> Exception:
    """The hold could not be taken: the balance or the position is too small (or absent)."""
    if order.side is Side.BUY:
        return InsufficientFunds(f"{order.initial_cash_hold} is needed and the available balance is lower")
    return InsufficientShares(f"fewer than {order.quantity} {order.symbol} shares are free to sell")


class Commands:
    """Placement, funding and the unit of work for the rest, over one asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool, on_commit: Callable[[], None] = lambda: None):
        self.pool = pool
        self._on_commit = on_commit  # wakes an in-process relay

    async def place(
        self, order: Order, *, idempotency_key: str | None, request_hash: str, placed: Event,
        update_event_id: str,
    ) -> bool:
        """Insert the order with its hold and its events (`trade.placed`, then
        `balance.updated` for a buy or `portfolio.updated` for a sell, built in SQL
        from the new balance). False: a trade with one of its keys already exists."""
        args = (
            order.user_id, order.trade_id, order.client_order_id, idempotency_key, request_hash,
            order.symbol, str(order.side), str(order.order_type), str(order.time_in_force),
            order.quantity, order.limit_price, order.hold_price, order.created_at,
        )
        args += (placed.id, placed.envelope(), update_event_id, rfc3339(placed.occurred_at))
        if order.side is Side.BUY:
            sql, args = PLACE_BUY, (*args, order.initial_cash_hold)
        else:
            sql = PLACE_SELL
        try:
            row = await self.pool.fetchrow(sql, *args)
        except asyncpg.UniqueViolationError:
            return False
        except asyncpg.CheckViolationError:
            raise _refusal(order) from None
        if row is None:  # no account, or no position in this stock
            raise _refusal(order)
        self._on_commit()
        return True

    async def find_by_keys(
        self, user_id: str, client_order_id: str | None, idempotency_key: str | None
    ) -> list[tuple[Order, str]]:
        rows = await self.pool.fetch(
            f"""SELECT {TRADE_COLUMNS}, request_hash FROM trades
                WHERE user_id = $1 AND (client_order_id = $2 OR idempotency_key = $3)""",
            user_id, client_order_id, idempotency_key,
        )
        return [(order_from_row(r), r["request_hash"]) for r in rows]

    async def fund(
        self, user_id: str, entry: LedgerEntry, reference: str | None, event: Event
    ) -> Balance | None:
        """Deposit or withdraw. None: the instruction with this reference was already applied."""
        sql = DEPOSIT if entry.kind is LedgerKind.DEPOSIT else WITHDRAW
        try:
            row = await self.pool.fetchrow(
                sql, user_id, str(entry.kind), entry.amount, reference, event.occurred_at, event.id,
                rfc3339(event.occurred_at),
            )
        except asyncpg.UniqueViolationError:
            return None
        except asyncpg.CheckViolationError:
            row = None
        if row is None:
            raise InsufficientFunds(f"the available balance is lower than {entry.amount}")
        self._on_commit()
        return balance_from_row(row)

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[UnitOfWork]:
        async with self.pool.acquire() as conn, conn.transaction():
            uow = UnitOfWork(conn)
            yield uow
        if uow.wrote_events:
            self._on_commit()


class UnitOfWork:
    """One transaction. Locks are taken in one order everywhere (trade, position,
    account) so that concurrent commands on one user cannot deadlock."""

    def __init__(self, conn: asyncpg.Connection):
        self.conn = conn
        self.wrote_events = False

    async def lock_order(self, user_id: str, trade_id: str) -> Order | None:
        row = await self.conn.fetchrow(
            f"SELECT {TRADE_COLUMNS} FROM trades WHERE user_id = $1 AND trade_id = $2 FOR UPDATE",
            user_id, trade_id,
        )
        return order_from_row(row) if row else None

    async def save_order(self, order: Order) -> None:
        await self.conn.execute(
            """UPDATE trades SET status = $3, filled_quantity = $4, filled_value = $5,
                   cancel_requested = $6, reject_reason = $7, updated_at = $8
               WHERE user_id = $1 AND trade_id = $2""",
            order.user_id, order.trade_id, str(order.status), order.filled_quantity,
            order.filled_value, order.cancel_requested, order.reject_reason, order.updated_at,
        )

    async def record_execution(
        self, order: Order, execution_id: str, quantity: int, price: Decimal, at: datetime
    ) -> bool:
        """False when this execution id was applied before: the report is a repeat."""
        status = await self.conn.execute(
            """INSERT INTO executions (user_id, execution_id, trade_id, symbol, side, quantity, price,
                   executed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING""",
            order.user_id, execution_id, order.trade_id, order.symbol, str(order.side), quantity,
            price, at,
        )
        return status.endswith(" 1")

    async def post(self, user_id: str, entries: list[LedgerEntry], trade_id: str | None, at: datetime) -> Balance:
        """Append entries to the journal and move the balance by the same amounts."""
        available = sum((LEDGER_DELTAS[e.kind][0] * e.amount for e in entries), Decimal(0))
        held = sum((LEDGER_DELTAS[e.kind][1] * e.amount for e in entries), Decimal(0))
        row = await self.conn.fetchrow(
            """WITH journal AS (
                   INSERT INTO ledger (user_id, kind, amount, trade_id, created_at)
                   SELECT $1, k, a, $4, $5 FROM unnest($6::text[], $7::numeric[]) AS t(k, a))
               UPDATE accounts SET available = available + $2, held = held + $3, updated_at = $5
               WHERE user_id = $1 RETURNING available, held""",
            user_id, available, held, trade_id, at,
            [str(e.kind) for e in entries], [e.amount for e in entries],
        )
        return balance_from_row(row)

    async def lock_position(self, user_id: str, symbol: str) -> Position:
        row = await self.conn.fetchrow(
            """SELECT quantity, held_quantity, average_price, realized_pnl FROM positions
               WHERE user_id = $1 AND symbol = $2 FOR UPDATE""",
            user_id, symbol,
        )
        return position_from_row(symbol, row)

    async def save_position(self, user_id: str, position: Position, at: datetime) -> None:
        await self.conn.execute(
            """INSERT INTO positions (user_id, symbol, quantity, held_quantity, average_price,
                   realized_pnl, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
               ON CONFLICT (user_id, symbol) DO UPDATE SET quantity = excluded.quantity,
                   held_quantity = excluded.held_quantity, average_price = excluded.average_price,
                   realized_pnl = excluded.realized_pnl, updated_at = excluded.updated_at""",
            user_id, position.symbol, position.quantity, position.held_quantity,
            position.average_price, position.realized_pnl, at,
        )

    async def add_events(self, events: list[Event]) -> None:
        if not events:
            return
        await self.conn.execute(
            """INSERT INTO outbox (event_id, user_id, type, payload)
               SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[])""",
            [e.id for e in events], [e.user_id for e in events], [str(e.type) for e in events],
            [e.envelope() for e in events],
        )
        self.wrote_events = True

