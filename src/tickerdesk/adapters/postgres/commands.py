"""The write side on PostgreSQL: every command is one transaction that changes state,
appends to the ledger and writes its events to the outbox together.

The money rules are the domain's: the use cases compute every hold, fill, release
and average cost with `tickerdesk.domain`, and this adapter applies the amounts it
is given (`balance_delta` of the journal entries; a placement's hold is the order's
`initial_cash_hold`, or its quantity of shares). The database only enforces: CHECK
constraints refuse a negative balance or more shares held than owned, so a hold the
balance cannot cover fails the whole statement, trade included.

Placement and funding are single statements (one round trip, autocommit): data-
modifying CTEs take the hold, insert the trade and write ledger and outbox rows.
Fills and cancels are rarer and read before they write, so they use a `UnitOfWork`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from functools import partial

import asyncpg

from tickerdesk.adapters.postgres.event_sql import BALANCE_EVENT_SQL, PORTFOLIO_EVENT_SQL
from tickerdesk.adapters.postgres.group_commit import GroupCommit, write_batch
from tickerdesk.adapters.postgres.rows import TRADE_COLUMNS, balance_from_row, order_from_row, position_from_row
from tickerdesk.app.ports import AfterCommit, NewOrder
from tickerdesk.app.views import rfc3339
from tickerdesk.codec import encode_event
from tickerdesk.domain.accounting import (
    Balance,
    FundingInstruction,
    LedgerEntry,
    LedgerKind,
    Position,
    balance_delta,
)
from tickerdesk.domain.errors import InsufficientFunds, InsufficientShares
from tickerdesk.domain.events import BalanceUpdated, Event, PortfolioUpdated
from tickerdesk.domain.orders import Order, Side

# The placement statements' parameters (built by `_placement_args`):
#   $1 user_id         $2 trade_id          $3 client_order_id   $4 idempotency_key
#   $5 request_hash    $6 symbol            $7 side              $8 order_type
#   $9 time_in_force   $10 quantity         $11 limit_price      $12 hold_price
#   $13 created_at     $14 placed event id  $15 placed envelope  $16 update event id
#   $17 occurred_at (RFC 3339 text)          $18 cash hold (buys only)
#
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
    UNION ALL {BALANCE_EVENT_SQL.format(event_id="$16", occurred_at="$17", more="")}
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
    UNION ALL {PORTFOLIO_EVENT_SQL.format(event_id="$16", occurred_at="$17", more="")}
)
SELECT quantity, held_quantity, average_price, realized_pnl FROM p"""

# Funding: $1 user_id, $2 kind, $3 amount, $4 reference, $5 at, $6 event id,
# $7 occurred_at (text). The account changes first, the journal row follows from it;
# a referenced instruction is recorded under its reference (unique across users), so
# a reference used before fails the statement and undoes the change.
_FUNDING_TAIL = f"""
journal AS (
    INSERT INTO ledger (user_id, kind, amount, reference, created_at)
    SELECT b.user_id, $2, $3, $4, $5 FROM b
),
instruction AS (
    INSERT INTO funding_instructions (reference, user_id, kind, amount, created_at)
    SELECT $4, b.user_id, $2, $3, $5 FROM b WHERE $4::text IS NOT NULL
),
events AS (
    INSERT INTO outbox (event_id, user_id, type, payload)
    {BALANCE_EVENT_SQL.format(event_id="$6", occurred_at="$7", more="")}
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


async def _available(pool: asyncpg.Pool, user_id: str) -> Decimal:
    """What the account has available, for a refusal to say so (no account: nothing)."""
    available = await pool.fetchval("SELECT available FROM accounts WHERE user_id = $1", user_id)
    return available if available is not None else Decimal(0)


async def _refusal(pool: asyncpg.Pool, order: Order) -> Exception:
    """The hold could not be taken: the balance or the position is too small (or absent).
    The figures the refusal gives are read after the failed statement, so a placement that
    succeeds stays one round trip; they inform the client and decide nothing."""
    if order.side is Side.BUY:
        return InsufficientFunds.needing(order.initial_cash_hold, await _available(pool, order.user_id))
    free = await pool.fetchval("SELECT quantity - held_quantity FROM positions WHERE user_id = $1 AND symbol = $2",
                               order.user_id, order.symbol)
    return InsufficientShares.needing(order.symbol, order.quantity, free or 0)


def _placement_args(new: NewOrder) -> tuple[object, ...]:
    order, placed = new.placed.order, new.placed
    args: tuple[object, ...] = (
        order.user_id, order.trade_id, order.client_order_id, new.idempotency_key, new.request_hash,
        order.symbol, str(order.side), str(order.order_type), str(order.time_in_force),
        order.quantity, order.limit_price, order.hold_price, order.created_at,
        placed.id, encode_event(placed), new.update_event_id, rfc3339(placed.occurred_at),
    )
    return (*args, order.initial_cash_hold) if order.side is Side.BUY else args


Update = BalanceUpdated | PortfolioUpdated


def _update_event(new: NewOrder, state: Balance | Position) -> BalanceUpdated | PortfolioUpdated:
    """The balance.updated (a buy) or portfolio.updated (a sell) a placement wrote, from the
    balance or position its hold left."""
    at, user = new.placed.occurred_at, new.placed.order.user_id
    if isinstance(state, Balance):
        return BalanceUpdated(id=new.update_event_id, user_id=user, occurred_at=at, balance=state)
    return PortfolioUpdated(id=new.update_event_id, user_id=user, occurred_at=at, position=state)


async def _nothing_after(events: Sequence[Event]) -> None:
    return None


class PgCommandStore:
    """Placement, funding and the unit of work for the rest, over one asyncpg pool.
    `after_commit` runs after every commit (see `tickerdesk.app.post_commit`)."""

    def __init__(self, pool: asyncpg.Pool, after_commit: AfterCommit = _nothing_after, *, group_commit: bool = False,
                 batches_in_flight: int = 2):
        self.pool = pool
        self._after_commit = after_commit
        self._groups: dict[Side, GroupCommit] = {}
        if group_commit:  # see group_commit.py: placements that arrive together share a statement and a commit
            self._groups = {side: GroupCommit(partial(self._write_batch, side), self._place_alone,
                                              self._batch_committed, in_flight=batches_in_flight) for side in Side}

    async def place(self, new: NewOrder) -> BalanceUpdated | PortfolioUpdated | None:
        if self._groups:
            result: BalanceUpdated | PortfolioUpdated | None = await self._groups[new.placed.order.side].place(new)
            return result
        return await self._place_alone(new)

    async def _write_batch(self, side: Side, batch: list[NewOrder]) -> dict[int, Update] | None:
        written = await write_batch(self.pool, side, batch)
        if written is None:
            return None
        return {i: _update_event(batch[i], state) for i, state in written.items()}

    async def _batch_committed(self, done: list[tuple[NewOrder, Update]]) -> None:
        await self._after_commit([event for new, update in done for event in (new.placed, update)])

    async def _place_alone(self, new: NewOrder) -> BalanceUpdated | PortfolioUpdated | None:
        order = new.placed.order
        sql = PLACE_BUY if order.side is Side.BUY else PLACE_SELL
        try:
            row = await self.pool.fetchrow(sql, *_placement_args(new))
        except asyncpg.UniqueViolationError:
            return None
        except asyncpg.CheckViolationError:
            raise await _refusal(self.pool, order) from None
        if row is None:  # no account, or no position in this stock
            raise await _refusal(self.pool, order)
        state = balance_from_row(row) if order.side is Side.BUY else position_from_row(order.symbol, row)
        update = _update_event(new, state)
        await self._after_commit([new.placed, update])
        return update

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
        self, user_id: str, entry: LedgerEntry, reference: str | None, event_id: str, at: datetime
    ) -> BalanceUpdated | None:
        sql = DEPOSIT if entry.kind is LedgerKind.DEPOSIT else WITHDRAW
        try:
            row = await self.pool.fetchrow(
                sql, user_id, str(entry.kind), entry.amount, reference, at, event_id, rfc3339(at),
            )
        except asyncpg.UniqueViolationError:
            return None
        except asyncpg.CheckViolationError:
            row = None
        if row is None:  # read after the refusal, as a placement's (see _refusal)
            raise InsufficientFunds.needing(entry.amount, await _available(self.pool, user_id))
        updated = BalanceUpdated(id=event_id, user_id=user_id, occurred_at=at, balance=balance_from_row(row))
        await self._after_commit([updated])
        return updated

    async def funding_instruction(self, reference: str) -> FundingInstruction | None:
        row = await self.pool.fetchrow(
            "SELECT user_id, kind, amount FROM funding_instructions WHERE reference = $1", reference)
        return FundingInstruction(row["user_id"], LedgerKind(row["kind"]), row["amount"]) if row else None

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[PgUnitOfWork]:
        async with self.pool.acquire() as conn, conn.transaction():
            uow = PgUnitOfWork(conn)
            yield uow
        if uow.events:
            await self._after_commit(uow.events)


class PgUnitOfWork:
    """One transaction; see `tickerdesk.app.ports.UnitOfWork`."""

    def __init__(self, conn: asyncpg.Connection):
        self.conn = conn
        self.events: list[Event] = []

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
        status = await self.conn.execute(
            """INSERT INTO executions (user_id, execution_id, trade_id, symbol, side, quantity, price,
                   executed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING""",
            order.user_id, execution_id, order.trade_id, order.symbol, str(order.side), quantity,
            price, at,
        )
        return bool(status.endswith(" 1"))

    async def post(self, user_id: str, entries: Sequence[LedgerEntry], trade_id: str | None,
                   at: datetime) -> Balance:
        available, held = balance_delta(entries)
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

    async def add_events(self, events: Sequence[Event]) -> None:
        if not events:
            return
        await self.conn.execute(
            """INSERT INTO outbox (event_id, user_id, type, payload)
               SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[])""",
            [e.id for e in events], [e.user_id for e in events], [str(e.type) for e in events],
            [encode_event(e) for e in events],
        )
        self.events.extend(events)
