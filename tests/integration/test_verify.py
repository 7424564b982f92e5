"""`tickerdesk verify` names each broken invariant and exits non-zero."""

import os
import subprocess
import sys

import pytest

from tickerdesk.adapters.postgres.db import seed_instruments

CORRUPTIONS = {
    "held cash equals the remaining holds of open buy orders": (
        "UPDATE accounts SET held = held + 1, available = available - 1"
    ),
    "each balance equals the sum of its ledger": "UPDATE accounts SET available = available + 0.0001",
    "held shares equal the remaining quantity of open sell orders": (
        "UPDATE positions SET held_quantity = held_quantity + 1"
    ),
    "each position equals its executions": "UPDATE positions SET quantity = quantity + 1",
    "each order's fills equal its executions": "DELETE FROM executions WHERE execution_id = 'e-1'",
    "cash paid and received equals the executions": (
        "UPDATE executions SET price = price - 1 WHERE execution_id = 'e-1'"
    ),
    "each status agrees with the fills": (
        "UPDATE trades SET status = 'executed' WHERE trade_id = '01a220b8-0821-7000-9aa7-5049e482c3eb'"
    ),
}

# A small consistent world: alice deposited 1000, bought 2 @ 100 (a 3-share limit at 100,
# 1 share still open), holds 150 for it... written by hand, rule by rule.
WORLD = """
INSERT INTO accounts VALUES ('alice', 700, 100, now());
INSERT INTO ledger (user_id, kind, amount, trade_id, created_at) VALUES
  ('alice', 'deposit', 1000, NULL, now()),
  ('alice', 'hold', 300, '01a220b8-0821-7000-9aa7-5049e482c3eb', now()),
  ('alice', 'buy', 200, '01a220b8-0821-7000-9aa7-5049e482c3eb', now());
INSERT INTO trades (user_id, trade_id, request_hash, symbol, side, order_type, time_in_force, quantity,
  limit_price, hold_price, status, filled_quantity, filled_value, created_at, updated_at)
VALUES ('alice', '01a220b8-0821-7000-9aa7-5049e482c3eb', 'h', 'AAPL', 'buy', 'limit', 'gtc', 3, 100, 100,
  'partiallyExecuted', 2, 200, now(), now());
INSERT INTO executions VALUES ('alice', 'e-1', '01a220b8-0821-7000-9aa7-5049e482c3eb', 'AAPL', 'buy', 2, 100, now());
INSERT INTO positions (user_id, symbol, quantity, held_quantity, average_price) VALUES ('alice', 'AAPL', 2, 0, 100);
"""


@pytest.fixture
async def world(scratch_database):
    """A database of its own holding the small consistent world above."""
    url, pool = scratch_database
    await seed_instruments(pool)
    await pool.execute(WORLD)
    return url, pool


def run_verify(url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TICKERDESK_DATABASE_URL": url, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "tickerdesk.entrypoints.cli", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_verify_passes_on_a_consistent_database(world):
    url, _ = world
    result = run_verify(url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all invariants hold" in result.stdout


@pytest.mark.parametrize("rule", sorted(CORRUPTIONS))
async def test_verify_names_each_broken_invariant(world, rule):
    url, pool = world
    await pool.execute(CORRUPTIONS[rule])
    result = run_verify(url)
    assert result.returncode == 1
    assert f"VIOLATION: {rule}" in result.stdout
