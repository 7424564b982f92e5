"""`tickerdesk verify`: every money and share invariant, checked over the whole database,
and the history store (either kind) checked against the trades (`history_drift`).

Each check is a query that returns the rows breaking one rule; an empty result
means the rule holds. The ledger kinds' directions mirror domain.accounting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from tickerdesk.app.ports import History

OPEN = "('pending', 'partiallyExecuted')"

CHECKS: dict[str, str] = {
    "balances are never negative": """
        SELECT user_id, available, held FROM accounts WHERE available < 0 OR held < 0""",
    "held cash equals the remaining holds of open buy orders": f"""
        SELECT a.user_id, a.held, coalesce(o.holds, 0) AS open_holds FROM accounts a
        LEFT JOIN (SELECT user_id, sum((quantity - filled_quantity) * hold_price) AS holds FROM trades
                   WHERE side = 'buy' AND status IN {OPEN} GROUP BY user_id) o USING (user_id)
        WHERE a.held <> coalesce(o.holds, 0)
        UNION ALL
        SELECT o.user_id, NULL, o.holds FROM (SELECT user_id, sum((quantity - filled_quantity) * hold_price) AS holds
            FROM trades WHERE side = 'buy' AND status IN {OPEN} GROUP BY user_id) o
        WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.user_id = o.user_id)""",
    "each balance equals the sum of its ledger": """
        SELECT a.user_id, a.available, a.held, l.available AS ledger_available, l.held AS ledger_held
        FROM accounts a FULL JOIN (
            SELECT user_id,
                sum(CASE kind WHEN 'deposit' THEN amount WHEN 'withdrawal' THEN -amount
                    WHEN 'hold' THEN -amount WHEN 'release' THEN amount WHEN 'sell' THEN amount
                    ELSE 0 END) AS available,
                sum(CASE kind WHEN 'hold' THEN amount WHEN 'release' THEN -amount
                    WHEN 'buy' THEN -amount ELSE 0 END) AS held
            FROM ledger GROUP BY user_id) l USING (user_id)
        WHERE coalesce(a.available, 0) <> coalesce(l.available, 0) OR coalesce(a.held, 0) <> coalesce(l.held, 0)""",
    "held shares equal the remaining quantity of open sell orders": f"""
        SELECT coalesce(p.user_id, o.user_id) AS user_id, coalesce(p.symbol, o.symbol) AS symbol,
               p.held_quantity, o.held
        FROM positions p FULL JOIN (
            SELECT user_id, symbol, sum(quantity - filled_quantity) AS held FROM trades
            WHERE side = 'sell' AND status IN {OPEN} GROUP BY user_id, symbol) o USING (user_id, symbol)
        WHERE coalesce(p.held_quantity, 0) <> coalesce(o.held, 0)""",
    "shares are never negative nor held beyond the position": """
        SELECT user_id, symbol, quantity, held_quantity FROM positions
        WHERE quantity < 0 OR held_quantity < 0 OR held_quantity > quantity""",
    "each position equals its executions": """
        SELECT coalesce(p.user_id, e.user_id) AS user_id, coalesce(p.symbol, e.symbol) AS symbol,
               p.quantity, e.net
        FROM positions p FULL JOIN (
            SELECT user_id, symbol, sum(CASE side WHEN 'buy' THEN quantity ELSE -quantity END) AS net
            FROM executions GROUP BY user_id, symbol) e USING (user_id, symbol)
        WHERE coalesce(p.quantity, 0) <> coalesce(e.net, 0)""",
    "each order's fills equal its executions": """
        SELECT t.user_id, t.trade_id, t.filled_quantity, t.filled_value, e.quantity, e.value
        FROM trades t LEFT JOIN (
            SELECT user_id, trade_id, sum(quantity) AS quantity, sum(quantity * price) AS value
            FROM executions GROUP BY user_id, trade_id) e USING (user_id, trade_id)
        WHERE t.filled_quantity <> coalesce(e.quantity, 0) OR t.filled_value <> coalesce(e.value, 0)""",
    "no order is filled beyond its quantity": """
        SELECT user_id, trade_id, quantity, filled_quantity FROM trades
        WHERE filled_quantity > quantity OR filled_quantity < 0""",
    "each status agrees with the fills": """
        SELECT user_id, trade_id, status, quantity, filled_quantity FROM trades
        WHERE (status = 'executed') <> (filled_quantity = quantity)
           OR (status = 'pending' AND filled_quantity > 0)
           OR (status = 'partiallyExecuted' AND filled_quantity = 0)
           OR (status = 'rejected' AND filled_quantity > 0)""",
    "cash paid and received equals the executions": """
        SELECT coalesce(l.user_id, e.user_id) AS user_id, coalesce(l.trade_id, e.trade_id) AS trade_id,
               l.cash, e.cash
        FROM (SELECT user_id, trade_id, sum(amount) AS cash FROM ledger
              WHERE kind IN ('buy', 'sell') GROUP BY user_id, trade_id) l
        FULL JOIN (SELECT user_id, trade_id, sum(quantity * price) AS cash FROM executions
                   GROUP BY user_id, trade_id) e USING (user_id, trade_id)
        WHERE coalesce(l.cash, 0) <> coalesce(e.cash, 0)""",
}


@dataclass(frozen=True)
class Violation:
    rule: str
    rows: list[dict]


async def verify(conn: asyncpg.Connection | asyncpg.Pool, *, sample: int = 10) -> list[Violation]:
    """Every broken rule with up to `sample` offending rows. Runs in one snapshot."""
    if isinstance(conn, asyncpg.Pool):
        async with conn.acquire() as c:
            return await verify(c, sample=sample)
    violations = []
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        for rule, sql in CHECKS.items():
            rows = await conn.fetch(f"SELECT * FROM ({sql}) v LIMIT {sample}")
            if rows:
                violations.append(Violation(rule, [dict(r) for r in rows]))
    return violations


# -- the history store agrees with the trades ---------------------------------------------

HISTORY_COUNT_RULE = "the history store holds each user's trades that left pending"
HISTORY_STATUS_RULE = "each trade in the history store shows its last status and fills"


async def history_drift(conn: asyncpg.Connection | asyncpg.Pool, history: History, *,
                        users: Sequence[str] | None = None, sample: int = 10, recheck_seconds: float = 2.0,
                        concurrency: int = 8,
                        progress: Callable[[int, int], None] | None = None) -> list[Violation]:
    """Where the history store (PostgreSQL or DynamoDB, through its port) disagrees with the
    trades for each user (every user with trades, or `users`): how many trades left
    `pending`, and each one's status and filled quantity. The store trails the trades by the
    projection lag, so users that disagree are compared again after `recheck_seconds`:
    what is left is drift, not lag. `progress(done, total)` follows the users."""
    if users is None:
        users = [r["user_id"] for r in await conn.fetch("SELECT DISTINCT user_id FROM trades ORDER BY user_id")]
    # a pool serves several users at once; one connection, one query at a time
    limit = asyncio.Semaphore(concurrency if isinstance(conn, asyncpg.Pool) else 1)
    done = 0

    async def compare(user_id: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        nonlocal done
        async with limit:
            stored = await history.summary(user_id)
            truth = {r["trade_id"]: (r["status"], r["filled_quantity"]) for r in await conn.fetch(
                """SELECT trade_id::text, status, filled_quantity FROM trades
                   WHERE user_id = $1 AND status <> 'pending'""", user_id)}
        done += 1
        if progress is not None:
            progress(done, len(users))
        count = None if len(stored) == len(truth) else {
            "user_id": user_id, "in_postgresql": len(truth), "in_history_store": len(stored)}
        wrong = [{"user_id": user_id, "trade_id": trade_id,
                  "postgresql": "{} {}".format(*truth[trade_id]) if trade_id in truth else "(none)",
                  "history_store": "{} {}".format(*stored[trade_id]) if trade_id in stored else "(none)"}
                 for trade_id in sorted(truth.keys() | stored.keys()) if truth.get(trade_id) != stored.get(trade_id)]
        return count, wrong

    results = dict(zip(users, await asyncio.gather(*(compare(u) for u in users)), strict=True))
    drifting = [u for u, (count, wrong) in results.items() if count or wrong]
    if drifting and recheck_seconds > 0:
        await asyncio.sleep(recheck_seconds)
        results.update(zip(drifting, await asyncio.gather(*(compare(u) for u in drifting)), strict=True))
    counts = [count for count, _ in results.values() if count]
    wrong = [row for _, rows in results.values() for row in rows]
    violations = []
    if counts:
        violations.append(Violation(HISTORY_COUNT_RULE, counts[:sample]))
    if wrong:
        violations.append(Violation(HISTORY_STATUS_RULE, wrong[:sample]))
    return violations
