"""Chaos: SIGKILL each stateful server of `make ha` under a steady stream of placements,
cancels and fills from several users, and check that nothing acknowledged is lost.

The scenarios share one stack of tickerdesk processes (tests/e2e/topology.py: relay,
venue-sim, two workers, three api replicas behind nginx; started once, in a database and
instance of its own) on the servers `deploy/ha.sh servers` runs: a stack that has lived
through one failover must also live through the next. Each scenario has users of its
own, checks that every server it will kill is redundant again first, and ends with:
- every acknowledged placement (201) found, in a final state, every market order executed;
- every notification on each user's WebSocket exactly once and in order (resumed from
  the inbox after a lost stream), the same as the inbox;
- `tickerdesk verify` clean.

Every request carries an Idempotency-Key and is retried with the same key while its
outcome is unknown (a 5xx or a broken connection), so a retry can never place twice.
The figures (the window from the first failed attempt to the first success after it,
p99 latency of the requests started in it, notification delay) go to
$TICKERDESK_CHAOS_REPORT (default /tmp/tickerdesk-chaos-figures.json) and the output.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg
import pytest
import websockets

from tests.e2e.topology import ROOT, Topology, cleanup_broker, cleanup_redis

HA_DIR = Path(os.environ.get("HA_DIR", ROOT / ".tickerdesk" / "ha"))
CONF = HA_DIR / "run" / "ha-supervisord.conf"
REPORT = Path(os.environ.get("TICKERDESK_CHAOS_REPORT", "/tmp/tickerdesk-chaos-figures.json"))
FINAL = {"executed", "canceled", "expired", "rejected"}
USERS = 4
SYMBOL = "AMD"


def ha_env() -> dict[str, str]:
    """The settings `deploy/ha.sh env` prints (shell-quoted), as the shell reads them."""
    script = f'eval "$({ROOT / "deploy" / "ha.sh"} env)" && env -0'
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout
    pairs = (item.partition("=") for item in out.split("\0") if item.startswith("TICKERDESK_"))
    return {k: v for k, _, v in pairs if k in re.findall(r"TICKERDESK_\w+", subprocess.run(
        [str(ROOT / "deploy" / "ha.sh"), "env"], capture_output=True, text=True, check=True).stdout)}


def ctl(*args: str) -> str:
    return subprocess.run([sys.executable, "-m", "supervisor.supervisorctl", "-c", str(CONF), *args],
                          capture_output=True, text=True).stdout


def sigkill(program: str) -> None:
    """SIGKILL the program's whole process group (the server and anything it spawned)."""
    pid = int(ctl("pid", program).strip())
    os.killpg(os.getpgid(pid), signal.SIGKILL)


def ha(*args: str) -> str:
    return subprocess.run([str(ROOT / "deploy" / "ha.sh"), *args], capture_output=True, text=True, timeout=600,
                          check=True).stdout


def redis_primary_program() -> str:
    port = subprocess.run(["redis-cli", "-p", ha_port("SENTINEL", 26390), "sentinel", "get-master-addr-by-name",
                           "tickerdesk"], capture_output=True, text=True).stdout.split()[1]
    return "redis-1" if int(port) == int(ha_port("REDIS", 6390)) else "redis-2"


def ha_port(_: str, base: int) -> str:
    return str(base + int(os.environ.get("HA_PORT_OFFSET", "0")))


def pg_state() -> str:
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", "env", "PATH=/usr/lib/postgresql/15/bin:/usr/bin:/bin",
         f"XDG_CONFIG_HOME={HA_DIR}/pg/monitor/config", f"XDG_DATA_HOME={HA_DIR}/pg/monitor/share",
         "pg_autoctl", "show", "state", "--pgdata", f"{HA_DIR}/pg/monitor/data"],
        capture_output=True, text=True).stdout


def pg_primary_program() -> str:
    primary = pg_primary_or_none()
    if primary is None:
        raise AssertionError(f"no PostgreSQL primary:\n{pg_state()}")
    return primary


def pg_primary_or_none() -> str | None:
    """The node the monitor made primary, or None in the middle of a failover."""
    for line in pg_state().splitlines():
        cells = [c.strip() for c in line.split("|")]
        # The assigned state: a dead primary's reported one stays "primary" until it returns.
        if len(cells) >= 7 and cells[6] in ("primary", "wait_primary", "single"):
            return f"pg-{cells[1]}"
    return None


async def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(predicate):
        assert time.monotonic() < deadline, f"{what}: not in {timeout} s"
        await asyncio.sleep(0.5)


@dataclass
class Attempt:
    started: float
    ended: float
    ok: bool


@dataclass
class Load:
    """The steady stream: each user places a market buy (filled by the venue) and a
    resting limit buy, then cancels the limit, over and over, each request retried with
    its key until it has an answer."""

    url: str
    tokens: dict[str, str]
    attempts: list[Attempt] = field(default_factory=list)
    placed: list[tuple[str, str, str, float]] = field(default_factory=list)  # user, trade id, order type, acked at
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def request(self, session: aiohttp.ClientSession, user: str, method: str, path: str,
                      body: dict | None = None) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {self.tokens[user]}", "Idempotency-Key": uuid.uuid4().hex}
        deadline = time.monotonic() + 120
        while True:
            started = time.monotonic()
            try:
                async with session.request(method, self.url + path, json=body, headers=headers,
                                           timeout=aiohttp.ClientTimeout(total=15)) as response:
                    data = await response.json(content_type=None)
                    ok = response.status < 500
                    self.attempts.append(Attempt(started, time.monotonic(), ok))
                    if ok:
                        return response.status, data
            except (aiohttp.ClientError, TimeoutError):
                self.attempts.append(Attempt(started, time.monotonic(), False))
            assert time.monotonic() < deadline, f"{method} {path}: no answer in 120 s"
            await asyncio.sleep(0.2)  # outcome unknown: the same key again

    async def user(self, session: aiohttp.ClientSession, user: str) -> None:
        while not self.stop.is_set():
            status, trade = await self.request(session, user, "POST", "/trade/place", {
                "stockSymbol": SYMBOL, "tradeType": "buy", "quantity": 1, "orderType": "market"})
            if status == 201:
                self.placed.append((user, trade["tradeId"], "market", time.monotonic()))
            status, trade = await self.request(session, user, "POST", "/trade/place", {
                "stockSymbol": SYMBOL, "tradeType": "buy", "quantity": 2, "orderType": "limit", "limitPrice": "80",
                "timeInForce": "gtc"})
            if status == 201:
                self.placed.append((user, trade["tradeId"], "limit", time.monotonic()))
                await self.request(session, user, "POST", f"/trade/{trade['tradeId']}/cancel")
            await asyncio.sleep(0.15)  # a steady stream (~20 placements/s in all), not a flood to work off


class Listener:
    """A user's WebSocket; when the stream ends (a lost pub/sub link), it reconnects with
    `after` the last seq it saw and so resumes from the inbox."""

    def __init__(self, url: str, token: str):
        self.url, self.token = url, token
        self.received: list[tuple[float, dict]] = []
        self.reconnects = 0
        self.task: asyncio.Task | None = None

    async def run(self) -> None:
        while True:
            after = f"?after={self.received[-1][1]['seq']}" if self.received else ""
            try:
                async with websockets.connect(self.url + after,
                                              additional_headers={"Authorization": f"Bearer {self.token}"}) as ws:
                    async for raw in ws:
                        message = json.loads(raw)
                        if message.get("type") not in ("connected", "heartbeat"):
                            self.received.append((time.monotonic(), message))
            except (OSError, websockets.WebSocketException):
                pass
            self.reconnects += 1
            await asyncio.sleep(0.3)


def window(attempts: list[Attempt], killed_at: float, until: float = float("inf")) -> dict:
    """From the first failed attempt after the kill (and before the next kill) to the
    first success after the last of them; p99 of the requests started in it."""
    failed = [a for a in attempts if not a.ok and killed_at - 0.5 <= a.started < until]
    if not failed:
        during = [a.ended - a.started for a in attempts if killed_at <= a.started <= min(until, killed_at + 10)]
        return {"failed_attempts": 0, "window_s": 0.0, **_latency(during)}
    first = min(a.started for a in failed)
    last_failure = max(a.ended for a in failed)
    recovered = min((a.ended for a in attempts if a.ok and a.started >= last_failure), default=last_failure)
    during = [a.ended - a.started for a in attempts if first <= a.started <= recovered]
    return {"failed_attempts": len(failed), "window_s": round(recovered - first, 2), **_latency(during)}


def _latency(values: list[float]) -> dict:
    values = sorted(values) or [0.0]
    p99 = values[int(0.99 * (len(values) - 1))]
    return {"p50_ms": round(values[len(values) // 2] * 1000), "p99_ms": round(p99 * 1000),
            "max_ms": round(values[-1] * 1000), "requests_in_window": len(values)}


@pytest.fixture(scope="module")
async def stack(tmp_path_factory):
    """One stack for every scenario: starting one costs more than a scenario's chaos."""
    env = ha_env()
    name = f"tickerdesk_chaos_{uuid.uuid4().hex[:8]}"
    server = env["TICKERDESK_DATABASE_URL"].replace("/tickerdesk?", "/postgres?")
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = env["TICKERDESK_DATABASE_URL"].replace("/tickerdesk?", f"/{name}?")
    instance = f"chaos-{uuid.uuid4().hex[:8]}"
    topology = Topology(instance, url, redis_url=env["TICKERDESK_REDIS_URL"], amqp_url=env["TICKERDESK_AMQP_URL"],
                        env={k: v for k, v in env.items() if k not in ("TICKERDESK_DATABASE_URL",)},
                        work_dir=tmp_path_factory.mktemp("chaos") / "stack", timeout=120)
    try:
        await asyncio.to_thread(topology.start)
        yield topology
    finally:
        await asyncio.to_thread(topology.stop)
        await cleanup_broker(instance, env["TICKERDESK_AMQP_URL"])
        await cleanup_redis(redis_primary_url(), instance)
        with_admin = await asyncpg.connect(server)
        await with_admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await with_admin.close()


def redis_primary_url() -> str:
    port = 6390 if redis_primary_program() == "redis-1" else 6391
    return f"redis://127.0.0.1:{ha_port('REDIS', port)}/0"


async def run_scenario(stack: Topology, name: str, chaos) -> dict:
    """The load for the whole scenario, `chaos(mark)` in the middle (it calls mark() at each kill)."""
    users = [f"{name}-{i}-{uuid.uuid4().hex[:4]}" for i in range(USERS)]
    load = Load(stack.url, {u: stack.token(u) for u in users} | {"ops": stack.token("ops", admin=True)})
    async with aiohttp.ClientSession() as session:
        await load.request(session, "ops", "PUT", f"/sim/stocks/{SYMBOL}", {"price": 100})
        for u in users:
            await load.request(session, "ops", "POST", "/admin/deposits", {"userId": u, "amount": 1_000_000})
        ws = stack.url.replace("http://", "ws://") + "/notifications/ws"
        listeners = {u: Listener(ws, load.tokens[u]) for u in users}
        for listener in listeners.values():
            listener.task = asyncio.create_task(listener.run())
        await asyncio.sleep(1.0)
        workers = [asyncio.create_task(load.user(session, u)) for u in users]
        kills: list[float] = []
        try:
            await asyncio.sleep(2.0)  # steady load before the kill
            await chaos(lambda: kills.append(time.monotonic()))
            await asyncio.sleep(3.0)  # and after the recovery
        finally:
            load.stop.set()
            outcomes = await asyncio.gather(*workers, return_exceptions=True)
        for outcome in outcomes:  # a request with no answer in 120 s fails the scenario
            if isinstance(outcome, BaseException):
                raise outcome

        async def trades_of(user: str) -> dict[str, dict]:
            """Every trade of the user, by id (a page of 500 at a time: far fewer requests
            than one per placement)."""
            found: dict[str, dict] = {}
            cursor = ""
            while True:
                _, page = await load.request(session, user, "GET", f"/trades?limit=500{cursor}")
                found |= {t["tradeId"]: t for t in page["items"]}
                if not page.get("nextCursor"):
                    return found
                cursor = f"&cursor={page['nextCursor']}"

        deadline = time.monotonic() + 180
        while True:  # every acknowledged placement exists and reaches a final state
            latest: dict[str, dict] = {}
            for found in await asyncio.gather(*(trades_of(u) for u in users)):
                latest |= found
            # One not listed is lost: the list reads the primary that acknowledged it.
            trades = [(kind, latest.get(t, {"missing": True, "tradeId": t})) for _, t, kind, _ in load.placed]
            if all(t.get("status") in FINAL or "missing" in t for _, t in trades) or time.monotonic() > deadline:
                break
            await asyncio.sleep(1.0)
        missing = [t for _, t in trades if "missing" in t]
        assert not missing, f"acknowledged placements lost: {missing[:3]}"
        open_ = [t for _, t in trades if t["status"] not in FINAL]
        assert not open_, f"orders not final: {open_[:3]}"
        unfilled = [t for kind, t in trades if kind == "market" and t["status"] != "executed"]
        assert not unfilled, f"marketable orders not executed: {unfilled[:3]}"

        async def inbox_of(user: str) -> list[dict]:
            inbox: list[dict] = []
            after = 0
            while True:
                _, page = await load.request(session, user, "GET", f"/notifications?after={after}&limit=500")
                inbox += page["items"]
                if len(page["items"]) < 500:
                    return inbox
                after = page["items"][-1]["seq"]

        delays = []
        placed_at = {t: at for _, t, _, at in load.placed}
        deadline = time.monotonic() + 120
        for u, listener in listeners.items():
            # The notifier may still be working off a backlog: wait until the stream has
            # caught up with the inbox (the stream read first, so it can only be behind).
            while True:
                ids = [m["id"] for _, m in listener.received]
                inbox = await inbox_of(u)
                assert ids, f"{u}: no notification on the stream"
                first_seq = listener.received[0][1]["seq"]
                expected = [n["id"] for n in inbox if n["seq"] >= first_seq]
                if ids == expected or time.monotonic() > deadline:
                    break
                await asyncio.sleep(1.0)
            assert len(ids) == len(set(ids)), f"{u}: a notification arrived twice"
            assert ids == expected, f"{u}: the stream and inbox differ"
            for arrived, m in listener.received:
                trade_id = (m.get("data") or {}).get("tradeId")
                if m.get("type") == "trade.placed" and trade_id in placed_at:
                    delays.append(max(0.0, arrived - placed_at[trade_id]))
            listener.task.cancel()
        await asyncio.gather(*(listener.task for listener in listeners.values()), return_exceptions=True)
    result = subprocess.run([sys.executable, "-m", "tickerdesk.entrypoints.cli", "verify"], capture_output=True,
                            text=True, timeout=300, env={**{k: v for k, v in os.environ.items()
                                                            if not k.startswith("TICKERDESK_")}, **stack.env})
    assert result.returncode == 0, result.stdout + result.stderr
    figures = {"kills": len(kills), "placements_acknowledged": len(load.placed),
               "attempts": len(load.attempts), "stream_reconnects": sum(x.reconnects for x in listeners.values()),
               "notification_delay": {k: v for k, v in _latency(delays).items() if k != "requests_in_window"}}
    for i, killed_at in enumerate(kills):
        figures[f"kill_{i + 1}"] = window(load.attempts, killed_at, ([*kills[i + 1:], float("inf")])[0])
    saved = json.loads(REPORT.read_text()) if REPORT.exists() else {}
    saved[name] = figures
    REPORT.write_text(json.dumps(saved, indent=2))
    print(name, json.dumps(figures, indent=2))
    return figures


def redis_replica_in_sync() -> bool:
    replica = "redis-2" if redis_primary_program() == "redis-1" else "redis-1"
    port = ha_port("REDIS", 6390 if replica == "redis-1" else 6391)
    info = subprocess.run(["redis-cli", "-p", port, "info", "replication"], capture_output=True, text=True).stdout
    return "role:slave" in info and "master_link_status:up" in info


def rabbitmq_node_up(n: int) -> bool:
    return subprocess.run(["/usr/lib/rabbitmq/bin/rabbitmqctl", "-n", f"tdha{n}@localhost", "await_startup",
                           "--timeout", "5"], env={**os.environ, "HOME": str(HA_DIR / "rabbit-home")},
                          capture_output=True).returncode == 0


def rabbitmq_cluster_whole() -> bool:
    out = subprocess.run(["/usr/lib/rabbitmq/bin/rabbitmqctl", "-n", "tdha3@localhost", "cluster_status",
                          "--formatter", "json"], env={**os.environ, "HOME": str(HA_DIR / "rabbit-home")},
                         capture_output=True, text=True).stdout
    try:
        return len(json.loads(out)["running_nodes"]) == 3
    except (ValueError, KeyError):
        return False


def pg_settled() -> bool:
    """A primary and a synchronous standby, each in the state the monitor assigned it."""
    states = [tuple(c.strip() for c in line.split("|"))[-2:] for line in pg_state().splitlines() if "|" in line]
    return ("primary", "primary") in states and ("secondary", "secondary") in states


async def test_sigkill_the_redis_primary(stack):
    await wait_for(redis_replica_in_sync, 60, "a Redis replica in sync before the kill")

    async def chaos(mark):
        program = redis_primary_program()
        mark()
        await asyncio.to_thread(sigkill, program)
        await wait_for(lambda: redis_primary_program() != program, 30, "Sentinel's failover")
        await asyncio.sleep(2.0)
        await asyncio.to_thread(ctl, "start", program)  # back as a replica of the new primary

    await run_scenario(stack, "redis-primary", chaos)


async def test_sigkill_one_rabbitmq_node_then_a_second_after_the_first_returns(stack):
    await wait_for(rabbitmq_cluster_whole, 120, "three running RabbitMQ nodes before the kill")

    async def chaos(mark):
        for n in (1, 2):  # node 1 first: every process connects to the first URL it is given
            mark()
            await asyncio.to_thread(sigkill, f"rabbit-{n}")
            await asyncio.sleep(3.0)
            await asyncio.to_thread(ctl, "start", f"rabbit-{n}")
            await wait_for(lambda n=n: rabbitmq_node_up(n), 120, f"RabbitMQ node {n} back")
            await asyncio.sleep(1.0)

    await run_scenario(stack, "rabbitmq-nodes", chaos)


async def test_sigkill_the_postgresql_primary_then_it_returns_as_a_standby(stack):
    await wait_for(pg_settled, 180, "a PostgreSQL primary and synchronous standby before the kill")

    async def chaos(mark):
        program = pg_primary_program()
        mark()
        await asyncio.to_thread(sigkill, program)
        await wait_for(lambda: pg_primary_or_none() not in (None, program), 90, "pg_auto_failover's failover")
        await asyncio.sleep(2.0)
        await asyncio.to_thread(ctl, "start", program)

    await run_scenario(stack, "postgresql-primary", chaos)
    await wait_for(pg_settled, 180, "the old primary back as a standby")
