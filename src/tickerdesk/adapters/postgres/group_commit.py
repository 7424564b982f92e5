"""Group commit for placements: many placements, one statement, one commit.

A placement alone is one statement and one commit (see `commands.py`). Under load
that commit, the statement's overhead in PostgreSQL and the round trip dominate, so
placements that arrive while others are being written wait and go together: a batch
is one statement over arrays (`unnest`), one commit, however many placements it holds.
There is no timer: a placement goes at once when fewer than `in_flight` batches are
being written, so a quiet system adds no latency, and a busy one batches by itself.

Each placement keeps its own outcome:
- the hold is taken per account for the sum of that account's placements in the
  batch, and only where the account can cover the sum (`available >= total`), so a
  refusal never aborts the others: an account that cannot cover its sum has nothing
  written and each of its placements is then placed alone, in order, by the single
  statement, which refuses exactly the ones the balance cannot cover;
- a unique violation (a retried idempotency key or client order id, which the single
  statement turns into a replay) aborts the batch statement, and then every one of
  its placements is placed alone. Retries are rare; correctness never depends on it.

Each placement's `balance.updated` / `portfolio.updated` event carries the balance or
position as it stood right after that placement (a running sum in batch order), as
the single statement's would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import asyncpg

from tickerdesk.adapters.postgres.event_sql import BALANCE_EVENT_SQL, PORTFOLIO_EVENT_SQL
from tickerdesk.app.ports import NewOrder
from tickerdesk.app.views import rfc3339
from tickerdesk.codec import dumps, encode_event
from tickerdesk.domain.accounting import Balance, Position
from tickerdesk.domain.orders import Side

# The arrays, one element per placement (built by `_columns`): the single statement's
# parameters, each as an array.
_INPUT = """
input AS (
    SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[],
        $7::text[], $8::text[], $9::text[], $10::int[], $11::numeric[], $12::numeric[],
        $13::timestamptz[], $14::uuid[], $15::text[], $16::uuid[], $17::text[], $18::numeric[])
    WITH ORDINALITY AS i(user_id, trade_id, client_order_id, idempotency_key, request_hash, symbol,
        side, order_type, time_in_force, quantity, limit_price, hold_price, created_at, placed_id,
        placed, update_id, occurred_at, hold, n)
)"""

_INSERT_TRADES = """
new_trade AS (
    INSERT INTO trades (user_id, trade_id, client_order_id, idempotency_key, request_hash, symbol,
        side, order_type, time_in_force, quantity, limit_price, hold_price, status, created_at,
        updated_at)
    SELECT user_id, trade_id, client_order_id, idempotency_key, request_hash, symbol, side,
        order_type, time_in_force, quantity, limit_price, hold_price, 'pending', created_at, created_at
    FROM ok
)"""

# Buys: the hold of each account is the sum of its placements' cash holds.
BATCH_BUY = f"""
WITH {_INPUT},
locked AS (  -- the accounts in one order, so two batches never wait for each other in a cycle
    SELECT a.user_id FROM accounts a WHERE a.user_id IN (SELECT user_id FROM input) ORDER BY a.user_id FOR UPDATE
),
want AS (SELECT user_id, sum(hold) AS total, max(created_at) AS at FROM input JOIN locked USING (user_id)
         GROUP BY user_id),
held AS (
    UPDATE accounts a SET available = a.available - w.total, held = a.held + w.total, updated_at = w.at
    FROM want w WHERE a.user_id = w.user_id AND a.available >= w.total
    RETURNING a.user_id, a.available + w.total AS available_before, a.held - w.total AS held_before
),
ok AS (
    SELECT i.*, h.available_before - sum(i.hold) OVER running AS available,
           h.held_before + sum(i.hold) OVER running AS held
    FROM input i JOIN held h USING (user_id)
    WINDOW running AS (PARTITION BY i.user_id ORDER BY i.n)
),
{_INSERT_TRADES},
journal AS (
    INSERT INTO ledger (user_id, kind, amount, trade_id, created_at)
    SELECT user_id, 'hold', hold, trade_id, created_at FROM ok ORDER BY n
),
b AS (SELECT * FROM ok),
events AS (
    INSERT INTO outbox (event_id, user_id, type, payload)
    SELECT event_id, user_id, type, payload FROM (
        SELECT placed_id AS event_id, user_id, 'trade.placed' AS type, placed::jsonb AS payload, n, 0 AS k FROM ok
        UNION ALL
        {BALANCE_EVENT_SQL.format(event_id="b.update_id", occurred_at="b.occurred_at", more=", b.n, 1")}
    ) AS all_events ORDER BY n, k
)
SELECT n, available, held FROM ok"""

# Sells: the hold of each position is the sum of its placements' quantities.
BATCH_SELL = f"""
WITH {_INPUT},
locked AS (  -- the positions in one order, as for buys
    SELECT p.user_id, p.symbol FROM positions p WHERE (p.user_id, p.symbol) IN (SELECT user_id, symbol FROM input)
    ORDER BY p.user_id, p.symbol FOR UPDATE
),
want AS (SELECT user_id, symbol, sum(quantity) AS total, max(created_at) AS at
         FROM input JOIN locked USING (user_id, symbol) GROUP BY user_id, symbol),
held AS (
    UPDATE positions p SET held_quantity = p.held_quantity + w.total, updated_at = w.at
    FROM want w
    WHERE p.user_id = w.user_id AND p.symbol = w.symbol AND p.quantity - p.held_quantity >= w.total
    RETURNING p.user_id, p.symbol, p.quantity, p.held_quantity - w.total AS held_before, p.average_price,
              p.realized_pnl
),
ok AS (
    SELECT i.*, h.quantity AS owned, h.held_before + sum(i.quantity) OVER running AS held_quantity,
           h.average_price, h.realized_pnl
    FROM input i JOIN held h USING (user_id, symbol)
    WINDOW running AS (PARTITION BY i.user_id, i.symbol ORDER BY i.n)
),
{_INSERT_TRADES},
p AS (SELECT user_id, symbol, owned AS quantity, held_quantity, average_price, realized_pnl, update_id,
             occurred_at, n FROM ok),
events AS (
    INSERT INTO outbox (event_id, user_id, type, payload)
    SELECT event_id, user_id, type, payload FROM (
        SELECT placed_id AS event_id, user_id, 'trade.placed' AS type, placed::jsonb AS payload, n, 0 AS k FROM ok
        UNION ALL
        {PORTFOLIO_EVENT_SQL.format(event_id="p.update_id", occurred_at="p.occurred_at", more=", p.n, 1")}
    ) AS all_events ORDER BY n, k
)
SELECT n, owned AS quantity, held_quantity, average_price, realized_pnl FROM ok"""


def _columns(batch: list[NewOrder]) -> list[list[Any]]:
    """The single statement's parameters, transposed into one array per parameter."""
    columns: list[list[Any]] = [[] for _ in range(18)]
    for new in batch:
        order, placed = new.placed.order, new.placed
        row = (
            order.user_id, order.trade_id, order.client_order_id, new.idempotency_key, new.request_hash,
            order.symbol, str(order.side), str(order.order_type), str(order.time_in_force),
            order.quantity, order.limit_price, order.hold_price, order.created_at,
            placed.id, dumps(encode_event(placed)), new.update_event_id, rfc3339(placed.occurred_at),
            order.initial_cash_hold if order.side is Side.BUY else Decimal(0),
        )
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    return columns


Written = dict[int, Any]  # batch index -> what the placement wrote (the balance or position after it)
Single = Callable[[NewOrder], Awaitable[Any]]


async def write_batch(pool: asyncpg.Pool, side: Side, batch: list[NewOrder]) -> Written | None:
    """Write what the batch can hold in one statement; None when the statement failed
    on a unique key (a retried placement) or a deadlock, and nothing was written."""
    sql = BATCH_BUY if side is Side.BUY else BATCH_SELL
    try:
        rows = await pool.fetch(sql, *_columns(batch))
    except (asyncpg.UniqueViolationError, asyncpg.DeadlockDetectedError, asyncpg.SerializationError):
        # A retried key, or (rows locked in order make it unlikely) a deadlock with another batch:
        # nothing was written, and each placement is then placed alone.
        return None
    if side is Side.BUY:
        return {r["n"] - 1: Balance(r["available"], r["held"]) for r in rows}
    return {r["n"] - 1: Position(batch[r["n"] - 1].placed.order.symbol, r["quantity"], r["held_quantity"],
                                 r["average_price"], r["realized_pnl"]) for r in rows}


class GroupCommit:
    """Collects placements of one side and writes them in batches (see the module).

    `write` writes a batch and returns what `write_batch` does; `single` places one
    order alone (the single statement with its refusals and replays); `committed`
    is told the events of each batch once it committed."""

    def __init__(
        self,
        write: Callable[[list[NewOrder]], Awaitable[Written | None]],
        single: Single,
        committed: Callable[[list[tuple[NewOrder, Any]]], Awaitable[None]],
        *,
        in_flight: int = 2,
        max_batch: int = 256,
    ):
        self._write, self._single, self._committed = write, single, committed
        self._in_flight, self._max_batch = in_flight, max_batch
        self._pending: list[tuple[NewOrder, asyncio.Future[Any]]] = []
        self._running = 0

    async def place(self, new: NewOrder) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((new, future))
        if self._running < self._in_flight:
            self._launch()
        return await future

    def _launch(self) -> None:
        batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch:]
        self._running += 1
        task = asyncio.get_running_loop().create_task(self._run(batch))
        task.add_done_callback(self._finished)

    def _finished(self, _task: asyncio.Task[None]) -> None:
        self._running -= 1
        if self._pending and self._running < self._in_flight:
            self._launch()

    async def _run(self, batch: list[tuple[NewOrder, asyncio.Future[Any]]]) -> None:
        try:
            await self._write_and_settle(batch)
        except BaseException as error:  # the connection failed, or we are shutting down
            for _, future in batch:
                if not future.done():
                    future.set_exception(error if isinstance(error, Exception) else asyncio.CancelledError())

    async def _write_and_settle(self, batch: list[tuple[NewOrder, asyncio.Future[Any]]]) -> None:
        if len(batch) == 1:
            return await self._alone(batch[0])
        written = await self._write([new for new, _ in batch])
        if written is None:
            written = {}
        done = [(new, written[i]) for i, (new, _) in enumerate(batch) if i in written]
        if done:
            await self._committed(done)
            for i, (_, future) in enumerate(batch):
                if i in written and not future.done():
                    future.set_result(written[i])
        # What the batch could not hold is placed alone, in order: its refusals and replays.
        for i, item in enumerate(batch):
            if i not in written:
                await self._alone(item)

    async def _alone(self, item: tuple[NewOrder, asyncio.Future[Any]]) -> None:
        new, future = item
        try:
            result = await self._single(new)
        except Exception as error:
            if not future.done():
                future.set_exception(error)
            return
        if not future.done():
            future.set_result(result)
