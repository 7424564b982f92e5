"""The production topology, really started: nginx, three api replicas, the relay, two
workers and the venue-sim, on the local PostgreSQL, Redis and RabbitMQ.

These tests kill processes with SIGKILL and stop RabbitMQ, then check that every
acknowledged order reaches its final state, every notification arrives exactly once
and in order, and `tickerdesk verify` finds nothing.
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
from pathlib import Path

import aiohttp
import asyncpg
import pytest
import websockets

from tests.conftest import _server_url, _with_database
from tests.e2e.topology import Topology, cleanup_broker, cleanup_redis

# One test stops the machine's RabbitMQ, which other tests use: the module (its stack is shared by
# its tests) runs in make test's serial step, after the parallel run.
pytestmark = [pytest.mark.slow, pytest.mark.serial]
FINAL = {"executed", "canceled", "expired", "rejected"}
REPORT = Path(os.environ.get("TICKERDESK_E2E_REPORT", "/tmp/tickerdesk-e2e-figures.json"))


@pytest.fixture(scope="module")
async def stack():
    server = _server_url()
    name = f"tickerdesk_e2e_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.execute(f'CREATE DATABASE "{name}_history"')  # the read model lives apart, as it may
    database_url = _with_database(server, name)
    instance = f"e2e-{uuid.uuid4().hex[:8]}"
    topology = Topology(instance, database_url,
                        env={"TICKERDESK_HISTORY_DATABASE_URL": _with_database(server, f"{name}_history")})
    topology.history_url = _with_database(server, f"{name}_history")
    try:
        await asyncio.to_thread(topology.start)
        yield topology
    finally:
        await asyncio.to_thread(topology.stop)
        await cleanup_broker(instance)
        await cleanup_redis("redis://127.0.0.1:6379/0", instance)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}_history" WITH (FORCE)')
        await admin.close()


class Client:
    def __init__(self, session: aiohttp.ClientSession, base: str, token: str):
        self.session, self.base = session, base
        self.headers = {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, body=None, expect=None):
        for _ in range(3):
            try:
                async with self.session.request(method, self.base + path, json=body, headers=self.headers) as r:
                    data = await r.json(content_type=None)
                    if expect is not None:
                        assert r.status == expect, (path, r.status, data)
                    return r.status, data
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.5)  # a replica restarting; the balancer routes around it
        raise AssertionError(f"{method} {path} failed three times")


async def wait_until(predicate, timeout=60.0, interval=0.25, stack: Topology | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(interval)
    logs = ""
    if stack is not None:
        for name in ("relay", "worker", "venue-sim"):
            logs += f"\n--- {name}\n" + "\n".join(stack.logs(name).splitlines()[-15:])
    raise AssertionError("condition not reached in time" + logs)


def verify(stack: Topology) -> subprocess.CompletedProcess:
    """`tickerdesk verify` with the stack's settings (its history store included)."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("TICKERDESK_")},
           **{k: v for k, v in stack.env.items() if k.startswith("TICKERDESK_")}}
    return subprocess.run([sys.executable, "-m", "tickerdesk.entrypoints.cli", "verify"], env=env, capture_output=True,
                          text=True, timeout=120)


class Listener:
    """A WebSocket client that records every notification it receives, with arrival times."""

    def __init__(self, url: str, token: str):
        self.url, self.token = url, token
        self.received: list[tuple[float, dict]] = []
        self.task: asyncio.Task | None = None
        self.ready = asyncio.Event()

    async def run(self) -> None:
        async with websockets.connect(self.url, additional_headers={"Authorization": f"Bearer {self.token}"}) as ws:
            async for raw in ws:
                message = json.loads(raw)
                if message["type"] == "connected":
                    self.ready.set()
                elif message["type"] != "heartbeat":
                    self.received.append((time.perf_counter(), message))

    async def __aenter__(self) -> Listener:
        self.task = asyncio.create_task(self.run())
        await asyncio.wait_for(self.ready.wait(), 15)
        return self

    async def __aexit__(self, *exc) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    def messages(self) -> list[dict]:
        return [m for _, m in self.received]


def assert_exactly_once_in_order(received: list[dict], inbox: list[dict]) -> None:
    ids = [m["id"] for m in received]
    assert len(ids) == len(set(ids)), "a notification arrived twice"
    seqs = [m["seq"] for m in received]
    assert seqs == sorted(seqs), "notifications arrived out of order"
    assert ids == [n["id"] for n in inbox], "the stream and the inbox differ"


async def inbox(client: Client) -> list[dict]:
    items, after = [], 0
    while True:
        _, page = await client.call("GET", f"/notifications?after={after}&limit=500", expect=200)
        items += page["items"]
        if len(page["items"]) < 500:
            return items
        after = page["items"][-1]["seq"]


async def test_a_websocket_on_one_replica_gets_every_notification_of_orders_placed_on_another(stack):
    user = f"ws-{uuid.uuid4().hex[:6]}"
    orders = 40
    async with aiohttp.ClientSession() as session:
        ops = Client(session, stack.url, stack.token("ops", admin=True))
        placer = Client(session, stack.api_urls[1], stack.token(user))
        reader = Client(session, stack.url, stack.token(user))
        await ops.call("PUT", "/sim/stocks/KO", {"price": 60}, expect=200)
        await ops.call("POST", "/admin/deposits", {"userId": user, "amount": 1_000_000}, expect=201)
        ws_url = stack.api_urls[0].replace("http://", "ws://") + "/notifications/ws"
        async with Listener(ws_url, stack.token(user)) as listener:
            placed_at: dict[str, float] = {}
            for _ in range(orders):
                started = time.perf_counter()
                _, trade = await placer.call("POST", "/trade/place", {
                    "stockSymbol": "KO", "quantity": 1, "tradeType": "buy", "orderType": "market"}, expect=201)
                placed_at[trade["tradeId"]] = started
                await asyncio.sleep(0.1)  # a steady stream, not a burst: latency, not backlog

            async def all_executed() -> bool:
                return sum(m["type"] == "trade.executed" for m in listener.messages()) >= orders
            await wait_until(all_executed)
            await asyncio.sleep(1.0)  # anything extra (a duplicate) would arrive now
            expected = await inbox(reader)
        received = listener.messages()
        deposits = [n for n in expected if n["type"] == "balance.updated" and n["seq"] < received[0]["seq"]]
        assert_exactly_once_in_order(received, expected[len(deposits):])
        for trade_id in placed_at:
            kinds = [m["type"] for m in received if m["data"].get("tradeId") == trade_id]
            assert kinds == ["trade.placed", "trade.executed"], kinds
        # latency from the placement request to the message on the other replica's WebSocket
        arrival = {(m["type"], m["data"].get("tradeId")): t for t, m in listener.received}
        placed = [1000 * (arrival[("trade.placed", t)] - s) for t, s in placed_at.items()]
        executed = [1000 * (arrival[("trade.executed", t)] - s) for t, s in placed_at.items()]
        figures = {
            "placed_to_ws_ms": {"p50": statistics.median(placed), "p99": sorted(placed)[int(0.99 * len(placed))]},
            "executed_to_ws_ms": {"p50": statistics.median(executed),
                                  "p99": sorted(executed)[int(0.99 * len(executed))]},
        }
        conn = await asyncpg.connect(stack.history_url)
        try:
            lags = sorted(r[0] * 1000 for r in await conn.fetch(
                "SELECT extract(epoch FROM projected_at - updated_at)::float8 FROM trade_history WHERE user_id = $1",
                user))
        finally:
            await conn.close()
        figures["history_lag_ms_steady"] = {"p50": lags[len(lags) // 2], "p99": lags[int(0.99 * len(lags))]}
        REPORT.write_text(json.dumps(figures, indent=2))
        print("notification latency", figures)


async def test_killing_relay_workers_and_venue_mid_burst_loses_nothing(stack):
    users = [f"burst-{i}-{uuid.uuid4().hex[:4]}" for i in range(4)]
    async with aiohttp.ClientSession() as session:
        ops = Client(session, stack.url, stack.token("ops", admin=True))
        await ops.call("PUT", "/sim/stocks/AMD", {"price": 100}, expect=200)
        clients = {u: Client(session, stack.url, stack.token(u)) for u in users}
        for u in users:
            await ops.call("POST", "/admin/deposits", {"userId": u, "amount": 1_000_000}, expect=201)
        listeners = [Listener(stack.url.replace("http://", "ws://") + "/notifications/ws", stack.token(u))
                     for u in users]
        for listener in listeners:
            await listener.__aenter__()
        accepted: list[tuple[str, str]] = []

        async def burst(user: str, n: int) -> None:
            for i in range(n):
                body = ({"orderType": "market"} if i % 3 else {"orderType": "limit", "limitPrice": 99})
                status, trade = await clients[user].call("POST", "/trade/place", {
                    "stockSymbol": "AMD", "quantity": 1 + i % 4, "tradeType": "buy", "timeInForce": "gtc", **body})
                if status == 201:
                    accepted.append((user, trade["tradeId"]))

        async def chaos() -> None:
            for name in ("relay", "worker", "venue-sim", "worker"):
                await asyncio.sleep(1.0)
                await asyncio.to_thread(stack.kill, name, 0)
                await asyncio.sleep(1.0)
                await asyncio.to_thread(stack.restart, name, 0)

        await asyncio.gather(chaos(), *(burst(u, 60) for u in users))
        await ops.call("PUT", "/sim/stocks/AMD", {"price": 98}, expect=200)  # resting limits fill now

        async def all_final() -> bool:
            for user, trade_id in accepted:
                _, trade = await clients[user].call("GET", f"/trade/{trade_id}")
                if trade.get("status") not in FINAL:
                    return False
            return True

        await wait_until(all_final, timeout=120, interval=1.0, stack=stack)
        await asyncio.sleep(2.0)
        for user, listener in zip(users, listeners, strict=True):
            expected = await inbox(clients[user])
            received = listener.messages()
            after_deposit = [n for n in expected if n["seq"] >= received[0]["seq"]] if received else []
            assert_exactly_once_in_order(received, after_deposit)
            await listener.__aexit__(None, None, None)
    assert len(accepted) == 240
    result = verify(stack)
    assert result.returncode == 0, result.stdout + result.stderr
    # How far the history read model trailed each trade's last change, during the burst.
    conn = await asyncpg.connect(stack.history_url)
    try:
        lags = [r[0] * 1000 for r in await conn.fetch(
            "SELECT extract(epoch FROM projected_at - updated_at)::float8 FROM trade_history WHERE user_id = ANY($1)",
            users)]
    finally:
        await conn.close()
    assert len(lags) == 240
    lags.sort()
    figures = json.loads(REPORT.read_text()) if REPORT.exists() else {}
    figures["history_lag_ms_under_kill_burst"] = {"p50": lags[len(lags) // 2], "p99": lags[int(0.99 * len(lags))],
                                                  "max": lags[-1]}
    REPORT.write_text(json.dumps(figures, indent=2))
    print("history lag", figures["history_lag_ms_under_kill_burst"])


async def test_placements_succeed_while_rabbitmq_is_down_and_events_flow_when_it_returns(stack):
    user = f"outage-{uuid.uuid4().hex[:6]}"
    async with aiohttp.ClientSession() as session:
        ops = Client(session, stack.url, stack.token("ops", admin=True))
        client = Client(session, stack.url, stack.token(user))
        await ops.call("PUT", "/sim/stocks/KO", {"price": 60}, expect=200)
        await ops.call("POST", "/admin/deposits", {"userId": user, "amount": 100_000}, expect=201)
        # The inbox trails the trades: the executions worker commits `executed` with its
        # event in the outbox, and the notifier writes the notification only after the
        # relay, RabbitMQ and its own queue (after an outage, once each has reconnected).
        # Holding the notifier back (its inserts wait for this lock) makes that lag
        # certain instead of a matter of timing; the notifications must still all come.
        placed: list[str] = []

        async def executed() -> bool:
            for trade_id in placed:
                _, trade = await client.call("GET", f"/trade/{trade_id}")
                if trade.get("status") != "executed":
                    return False
            return True

        hold = await asyncpg.connect(stack.database_url)
        try:
            async with hold.transaction():
                await hold.execute("LOCK TABLE notifications IN SHARE MODE")
                subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True, timeout=60)
                try:
                    for _ in range(10):
                        status, trade = await client.call("POST", "/trade/place", {
                            "stockSymbol": "KO", "quantity": 1, "tradeType": "buy", "orderType": "market"})
                        assert status == 201, trade
                        placed.append(trade["tradeId"])
                    await asyncio.sleep(3)
                finally:
                    subprocess.run(["rabbitmqctl", "start_app"], check=True, capture_output=True, timeout=120)
                await wait_until(executed, timeout=90, interval=0.25, stack=stack)
                notes = await inbox(client)
                assert not any(n["type"] == "trade.executed" for n in notes)  # executed, not yet notified
        finally:
            await hold.close()  # the lock goes with its transaction: the notifier runs on

        async def notified() -> bool:  # late, never lost: every one arrives once the notifier runs
            nonlocal notes
            notes = await inbox(client)
            return sum(n["type"] == "trade.executed" for n in notes) >= 10

        await wait_until(notified, timeout=30, stack=stack)
        assert sum(n["type"] == "trade.executed" for n in notes) == 10

        async def in_history() -> bool:  # the read model, in its own database, catches up
            _, history = await client.call("GET", "/transaction-history?limit=50", expect=200)
            return {t["tradeId"] for t in history["items"]} == set(placed)

        await wait_until(in_history, timeout=30, stack=stack)
        assert len({n["id"] for n in notes}) == len(notes)
    result = verify(stack)
    assert result.returncode == 0, result.stdout + result.stderr


async def test_the_edge_applies_per_address_limits_and_sends_no_server_banner(stack):
    """Through nginx, as in production: a client cannot choose its own address by writing
    X-Forwarded-For (the per-address limit on failed authentication holds), and the api
    replicas, as `tickerdesk api` runs them, send no `server: uvicorn` banner."""
    async with aiohttp.ClientSession() as session:
        for url in stack.api_urls:
            async with session.get(url + "/healthz") as r:
                assert "Server" not in r.headers and r.headers["X-Content-Type-Options"] == "nosniff"

        statuses = []
        for i in range(25):  # the default budget is 20 failures, then one every 5 s
            forged = {"Authorization": "Bearer forged", "X-Forwarded-For": f"198.51.100.{i + 1}"}
            async with session.get(stack.url + "/balance", headers=forged) as r:
                statuses.append(r.status)
        assert statuses[:20] == [401] * 20 and statuses[-1] == 429, statuses

        # The address comes back as the bucket refills (other tests share it).
        fresh = Client(session, stack.url, stack.token(f"after-{uuid.uuid4().hex[:6]}"))

        async def served() -> bool:
            status, _ = await fresh.call("GET", "/balance")
            return status == 200

        await wait_until(served, timeout=30, interval=1.0, stack=stack)
