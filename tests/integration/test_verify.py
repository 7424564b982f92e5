"""`tickerdesk verify` names each broken invariant and exits non-zero."""

import os
import subprocess
import sys
import uuid

import pytest

from tickerdesk.adapters.postgres.db import seed_instruments
from tickerdesk.adapters.postgres.verify import HISTORY_COUNT_RULE, HISTORY_STATUS_RULE

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
    HISTORY_COUNT_RULE: "DELETE FROM trade_history",
    HISTORY_STATUS_RULE: "UPDATE trade_history SET status = 'canceled'",
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
INSERT INTO trade_history (user_id, trade_id, symbol, status, filled_quantity, trade, last_event_id, created_at,
  updated_at)
VALUES ('alice', '01a220b8-0821-7000-9aa7-5049e482c3eb', 'AAPL', 'partiallyExecuted', 2, '{}',
  '01a220b8-0822-7000-9aa7-5049e482c3eb', now(), now());
"""


@pytest.fixture
async def world(scratch_database):
    """A database of its own holding the small consistent world above."""
    url, pool = scratch_database
    await seed_instruments(pool)
    await pool.execute(WORLD)
    return url, pool


def run_verify(url: str, *command: str, **settings: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TICKERDESK_DATABASE_URL": url, "COLUMNS": "200", **settings}
    return subprocess.run(
        [sys.executable, "-m", "tickerdesk.entrypoints.cli", *(command or ["verify"])],
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


@pytest.mark.parametrize("store", ["postgres", "dynamodb"])
async def test_history_rebuild_fills_an_emptied_store_and_verify_then_finds_no_drift(world, store, request):
    url, pool = world
    settings = {"TICKERDESK_HISTORY_STORE": store}
    if store == "postgres":
        await pool.execute("DELETE FROM trade_history")
    else:
        settings.update(TICKERDESK_HISTORY_DYNAMODB_ENDPOINT=request.getfixturevalue("dynalite_endpoint"),
                        TICKERDESK_HISTORY_DYNAMODB_TABLE_PREFIX=f"verify-{uuid.uuid4().hex[:8]}-")
    try:
        drift = run_verify(url, **settings)
        assert drift.returncode == 1 and f"VIOLATION: {HISTORY_COUNT_RULE}" in drift.stdout, drift.stdout
        rebuilt = run_verify(url, "history", "rebuild", "--user", "alice", **settings)
        assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
        assert f"1 trade(s) of alice re-projected into the {store} history store" in rebuilt.stdout
        clean = run_verify(url, **settings)
        assert clean.returncode == 0, clean.stdout + clean.stderr
        assert f"the history store ({store}) agrees with the trades" in clean.stdout
        # the truth moves on without the store (no event reaches it): drift, named per trade
        await pool.execute("UPDATE trades SET status = 'canceled'")
        moved = run_verify(url, **settings)
        assert f"VIOLATION: {HISTORY_STATUS_RULE}" in moved.stdout and "canceled 2" in moved.stdout, moved.stdout
        assert run_verify(url, "history", "rebuild", **settings).returncode == 0  # everyone's
        again = run_verify(url, **settings)  # (the money no longer adds up: the hold was not released)
        assert HISTORY_STATUS_RULE not in again.stdout and HISTORY_COUNT_RULE not in again.stdout, again.stdout
    finally:
        if store == "dynamodb":
            from tickerdesk.adapters.dynamodb.client import DynamoClient

            dynamo = await DynamoClient.open(endpoint=settings["TICKERDESK_HISTORY_DYNAMODB_ENDPOINT"],
                                             region="us-east-1")
            await dynamo.delete_table(settings["TICKERDESK_HISTORY_DYNAMODB_TABLE_PREFIX"] + "history")
            await dynamo.close()
