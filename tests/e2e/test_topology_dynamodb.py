"""The production topology with the history in DynamoDB (dynalite): placements, fills and
cancels reach /transaction-history from the DynamoDB table through the relay, RabbitMQ and
the history worker; `tickerdesk history rebuild` and `tickerdesk verify` run clean against
it, and verify names an item that went missing. Also measures the projection lag.

A small stack (one worker, one api replica behind nginx) keeps the suite's time modest.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from tests.conftest import _server_url, _with_database
from tests.e2e.test_topology import Client, wait_until
from tests.e2e.topology import Topology, cleanup_broker, cleanup_redis
from tickerdesk.adapters.dynamodb.client import DynamoClient

pytestmark = pytest.mark.slow
REPORT = Path(os.environ.get("TICKERDESK_E2E_DYNAMODB_REPORT", "/tmp/tickerdesk-e2e-dynamodb-figures.json"))


@pytest.fixture(scope="module")
async def stack(dynalite_endpoint):
    server = _server_url()
    name = f"tickerdesk_e2e_ddb_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    instance = f"e2e-ddb-{uuid.uuid4().hex[:8]}"
    prefix = f"{instance}-"
    topology = Topology(instance, _with_database(server, name), workers=1, api_replicas=1, env={
        "TICKERDESK_HISTORY_STORE": "dynamodb",
        "TICKERDESK_HISTORY_DYNAMODB_ENDPOINT": dynalite_endpoint,
        "TICKERDESK_HISTORY_DYNAMODB_TABLE_PREFIX": prefix,
    })
    dynamo = await DynamoClient.open(endpoint=dynalite_endpoint, region="us-east-1")
    topology.dynamo, topology.table = dynamo, prefix + "history"
    try:
        await asyncio.to_thread(topology.start)
        yield topology
    finally:
        await asyncio.to_thread(topology.stop)
        await cleanup_broker(instance)
        await cleanup_redis("redis://127.0.0.1:6379/0", instance)
        await dynamo.delete_table(topology.table)
        await dynamo.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def tickerdesk(stack: Topology, *args: str) -> subprocess.CompletedProcess:
    """A `tickerdesk` command with the stack's settings."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("TICKERDESK_")},
           **{k: v for k, v in stack.env.items() if k.startswith("TICKERDESK_")}, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "tickerdesk.entrypoints.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def test_fills_and_cancels_reach_the_dynamodb_history_and_rebuild_and_verify_are_clean(stack):
    user = f"ddb-{uuid.uuid4().hex[:6]}"
    fills, cancels = 40, 8
    async with aiohttp.ClientSession() as session:
        ops = Client(session, stack.url, stack.token("ops", admin=True))
        client = Client(session, stack.url, stack.token(user))
        await ops.call("PUT", "/sim/stocks/KO", {"price": 60}, expect=200)
        await ops.call("PUT", "/sim/stocks/MSFT", {"price": 400}, expect=200)
        await ops.call("POST", "/admin/deposits", {"userId": user, "amount": 1_000_000}, expect=201)

        # Placement acknowledged -> the filled trade readable in the history, as a client sees it.
        readable_ms: list[float] = []
        executed: list[str] = []
        for i in range(fills):
            started = time.perf_counter()
            _, trade = await client.call("POST", "/trade/place", {
                "stockSymbol": "KO" if i % 2 else "MSFT", "quantity": 1 + i % 3, "tradeType": "buy",
                "orderType": "market"}, expect=201)
            while True:
                _, page = await client.call("GET", "/transaction-history?limit=1", expect=200)
                if page["items"] and page["items"][0]["tradeId"] == trade["tradeId"]:
                    break
                if time.perf_counter() - started > 30:
                    raise AssertionError(f"{trade['tradeId']} never reached the history")
                await asyncio.sleep(0.005)
            readable_ms.append(1000 * (time.perf_counter() - started))
            executed.append(trade["tradeId"])
            await asyncio.sleep(0.05)  # a steady stream: latency, not backlog

        canceled: list[str] = []
        for _ in range(cancels):
            _, trade = await client.call("POST", "/trade/place", {
                "stockSymbol": "KO", "quantity": 1, "tradeType": "buy", "limitPrice": 30, "timeInForce": "gtc"},
                expect=201)
            await client.call("POST", f"/trade/{trade['tradeId']}/cancel", expect=202)
            canceled.append(trade["tradeId"])

        async def every_trade_there() -> bool:
            _, page = await client.call("GET", "/transaction-history?status=canceled&limit=50", expect=200)
            return {t["tradeId"] for t in page["items"]} == set(canceled)

        await wait_until(every_trade_there, timeout=60, stack=stack)

        # Every page full, newest first, across the whole history, with opaque tokens.
        seen, cursor = [], None
        while True:
            _, page = await client.call(
                "GET", "/transaction-history?limit=7" + (f"&cursor={cursor}" if cursor else ""), expect=200)
            assert len(page["items"]) == 7 or page["nextCursor"] is None
            seen += page["items"]
            cursor = page["nextCursor"]
            if cursor is None:
                break
        assert [t["tradeId"] for t in seen] == (executed + canceled)[::-1]
        assert {t["status"] for t in seen if t["tradeId"] in executed} == {"executed"}
        _, ko = await client.call("GET", "/transaction-history?stockSymbol=KO&status=executed&limit=100", expect=200)
        assert [t["tradeId"] for t in ko["items"]] == [t for i, t in enumerate(executed) if i % 2][::-1]
        status, refused = await client.call("GET", f"/transaction-history?cursor={cursor or 'x'}")
        assert status == 400 and refused["code"] == "invalid_request"

    # Commit to written, from the items: the trade's last change (updatedAt) to projected_us.
    items = (await stack.dynamo.call(
        "query", TableName=stack.table, KeyConditionExpression="pk = :pk AND begins_with(sk, :t)",
        ExpressionAttributeValues={":pk": {"S": f"USER#{user}"}, ":t": {"S": "TRADE#"}}))["Items"]
    assert len(items) == fills + cancels
    lags = [int(item["projected_us"]["N"]) / 1000
            - datetime.fromisoformat(item["trade"]["M"]["updatedAt"]["S"]).timestamp() * 1000 for item in items]
    figures = {
        "history_store": "dynamodb (dynalite, in memory)",
        "placement_201_to_readable_in_history_ms": {
            "p50": round(statistics.median(readable_ms), 1), "p99": round(quantile(readable_ms, 0.99), 1),
            "max": round(max(readable_ms), 1), "n": len(readable_ms)},
        "last_change_to_projected_ms": {"p50": round(statistics.median(lags), 1), "p99": round(quantile(lags, 0.99), 1),
                                        "max": round(max(lags), 1), "n": len(lags)},
    }
    REPORT.write_text(json.dumps(figures, indent=2))
    print("dynamodb history lag", figures)

    rebuilt = await asyncio.to_thread(tickerdesk, stack, "history", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert "re-projected into the dynamodb history store" in rebuilt.stdout
    clean = await asyncio.to_thread(tickerdesk, stack, "verify")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "the history store (dynamodb) agrees with the trades" in clean.stdout

    # An item lost from the table is drift that verify names, and a rebuild of that user repairs.
    await stack.dynamo.call("delete_item", TableName=stack.table,
                            Key={"pk": {"S": f"USER#{user}"}, "sk": {"S": f"TRADE#{canceled[0]}"}})
    drift = await asyncio.to_thread(tickerdesk, stack, "verify")
    assert drift.returncode == 1 and canceled[0] in drift.stdout, drift.stdout
    assert (await asyncio.to_thread(tickerdesk, stack, "history", "rebuild", "--user", user)).returncode == 0
    assert (await asyncio.to_thread(tickerdesk, stack, "verify")).returncode == 0
