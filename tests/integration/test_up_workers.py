"""`tickerdesk up --workers 2`, started for real on a database of its own: one port served
by two HTTP worker processes and a core (venue, relay, consumers), and a user sees one
system. Each request goes over a fresh connection, which the kernel hands to either worker.

- placements are served by both workers (each worker's /metrics names it);
- a WebSocket and an SSE stream hear every placement, whichever worker served it;
- a token bucket holds across workers;
- a cached balance is never served after a commit by another process (a worker's
  placement, the core's fill);
- a price set through one worker is every worker's price at once;
- Ctrl-C (SIGINT to the process group) stops every process, the embedded PostgreSQL last,
  and `verify` is clean; a worker that dies stops everything (exit 1); workers whose core
  was killed outright stop themselves; `--workers 1` is one process, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import simplejson
import websockets

from tests.conftest import SECRET, fresh_database
from tickerdesk.entrypoints.http.auth import issue_token

pytestmark = pytest.mark.slow
CANCEL_BURST = 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def processes_in_group(group: int, *, zombies: bool = True) -> list[str]:
    """What runs (or is dead and unreaped, unless `zombies` is False) in a process group."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) != group:
                    continue
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if zombies or state != "Z":
                    found.append(f"{state} " + (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
            except (ProcessLookupError, FileNotFoundError, PermissionError):
                pass
    return found


def workers_of(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                if ppid == parent and b"spawn_main" in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                pass
    return found


def start_up(workdir: Path, env: dict[str, str], workers: int = 2) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tickerdesk.entrypoints.cli", "up", "--port", str(port), "--workers", str(workers)],
        cwd=workdir, env=env, stdout=(workdir / "up.log").open("w"), stderr=subprocess.STDOUT,
        start_new_session=True,  # a process group of its own, as a terminal's job: Ctrl-C is SIGINT to the group
    )
    return process, f"http://127.0.0.1:{port}"


def stop_with_ctrl_c(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise


async def wait_for_workers(base: str, log: Path, workers: int = 2) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        seen = set()
        for _ in range(30):
            try:
                seen.add(worker_of(await fresh("GET", base + "/metrics")))
            except httpx.HTTPError:
                break
        if len(seen - {None}) == workers:
            return
        await asyncio.sleep(0.3)
    pytest.fail("tickerdesk up --workers did not become ready:\n" + log.read_text())


@pytest.fixture(scope="module")
async def served(tmp_path_factory) -> AsyncIterator[tuple[str, dict[str, str], Path]]:
    async with fresh_database("tickerdesk_workers") as url:
        workdir = tmp_path_factory.mktemp("up-workers")
        env = {k: v for k, v in os.environ.items() if not k.startswith("TICKERDESK_")}
        env |= {"TICKERDESK_DATABASE_URL": url, "TICKERDESK_JWT_SECRET": SECRET, "TICKERDESK_PRICE_WALK_SECONDS": "0",
                "TICKERDESK_RATE_LIMIT_CANCEL": f"0.001/{CANCEL_BURST}"}
        process, base = start_up(workdir, env)
        try:
            await wait_for_workers(base, workdir / "up.log")
            yield base, env, workdir
            group = process.pid
            stop_with_ctrl_c(process)
            assert process.returncode == 0, (workdir / "up.log").read_text()
            assert processes_in_group(group) == []
            log = (workdir / "up.log").read_text()
            assert "Traceback" not in log and "ERROR" not in log and "leaked" not in log, log
            verify = subprocess.run([sys.executable, "-m", "tickerdesk.entrypoints.cli", "verify"], cwd=workdir,
                                    env=env, capture_output=True, text=True, timeout=60)
            assert verify.returncode == 0, verify.stdout + verify.stderr
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


async def fresh(method: str, url: str, **kwargs) -> httpx.Response:
    """One request on a connection of its own."""
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.request(method, url, **kwargs)


def worker_of(metrics: httpx.Response) -> str | None:
    found = re.search(r'^tickerdesk_up_worker\{worker="(\d+)"\} 1\.0$', metrics.text, re.M)
    return found[1] if found else None


def exact(response: httpx.Response):
    return simplejson.loads(response.text, use_decimal=True)


def bearer(user: str, admin: bool = False) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(SECRET, user, admin=admin)}"}


ADMIN = bearer("operator", admin=True)


async def new_user(base: str, cash: int) -> tuple[str, dict[str, str]]:
    user = f"user-{uuid.uuid4().hex[:12]}"
    response = await fresh("POST", base + "/admin/deposits", json={"userId": user, "amount": cash}, headers=ADMIN)
    assert response.status_code == 201, response.text
    return user, bearer(user)


async def price_of(base: str, symbol: str) -> Decimal:
    return exact(await fresh("GET", f"{base}/stocks/{symbol}"))["lastPrice"]


async def place(base: str, headers: dict[str, str], **order) -> dict:
    body = {"stockSymbol": "AAPL", "tradeType": "buy", "orderType": "limit", "quantity": 1, **order}
    response = await fresh("POST", base + "/trade/place", content=simplejson.dumps(body),
                           headers={**headers, "Content-Type": "application/json"})
    assert response.status_code == 201, response.text
    return exact(response)


async def placements_by_worker(base: str) -> dict[str, float]:
    """Each worker's count of placements, from its own /metrics."""
    counts: dict[str, float] = {}
    for _ in range(200):
        response = await fresh("GET", base + "/metrics")
        worker = worker_of(response)
        assert worker is not None, "every worker names itself"
        counts[worker] = sum(float(v) for v in re.findall(r"^tickerdesk_placements_total\{[^}]*\} (\S+)$",
                                                           response.text, re.M))
        if len(counts) == 2:
            return counts
    pytest.fail(f"only workers {sorted(counts)} answered")


async def test_placements_are_served_by_both_workers(served):
    base, _, _ = served
    _, headers = await new_user(base, 100_000)
    limit = (await price_of(base, "AAPL") / 2).quantize(Decimal("0.01"))  # resting
    before = await placements_by_worker(base)
    await asyncio.gather(*(place(base, headers, limitPrice=limit) for _ in range(40)))
    after = await placements_by_worker(base)
    served_by = {worker: after[worker] - before[worker] for worker in after}
    assert sum(served_by.values()) == 40, served_by
    assert all(count > 0 for count in served_by.values()), served_by


async def test_streams_hear_placements_whichever_worker_served_them(served):
    base, _, _ = served
    _, headers = await new_user(base, 100_000)
    limit = (await price_of(base, "AAPL") / 2).quantize(Decimal("0.01"))
    host = base.removeprefix("http://")
    async with websockets.connect(f"ws://{host}/notifications/ws", additional_headers=headers) as ws, \
            httpx.AsyncClient(timeout=30) as sse_client, \
            sse_client.stream("GET", base + "/notifications/stream", headers=headers) as sse:
        assert json.loads(await ws.recv())["type"] == "connected"
        lines = sse.aiter_lines()
        assert await anext(lines) == "retry: 1000"  # subscribed from here on
        latencies, placed = [], []
        for _ in range(12):  # one at a time over fresh connections: each to either worker
            started = time.perf_counter()
            trade = await place(base, headers, limitPrice=limit)
            placed.append(trade["tradeId"])
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if message.get("type") == "trade.placed":
                    assert message["data"]["tradeId"] == trade["tradeId"]
                    latencies.append(time.perf_counter() - started)
                    break
        heard = []
        while len(heard) < 12:
            line = await asyncio.wait_for(anext(lines), 10)
            if line.startswith("data: ") and '"trade.placed"' in line:
                heard.append(json.loads(line.removeprefix("data: "))["data"]["tradeId"])
        assert heard == placed
    print(f"placement to WebSocket notification: median {sorted(latencies)[6] * 1000:.1f} ms, "
          f"max {max(latencies) * 1000:.1f} ms")


async def test_a_token_bucket_holds_across_workers(served):
    base, _, _ = served
    _, headers = await new_user(base, 1)

    async def cancel() -> int:  # an unknown order: 404, but it takes a token of the cancel bucket first
        return (await fresh("POST", f"{base}/trade/{uuid.uuid4()}/cancel", headers=headers)).status_code

    statuses = await asyncio.gather(*(cancel() for _ in range(CANCEL_BURST)))
    assert statuses == [404] * CANCEL_BURST
    # buckets per worker would let about CANCEL_BURST more through
    assert [await cancel() for _ in range(10)] == [429] * 10


async def balances(base: str, headers: dict[str, str], reads: int = 8) -> list[tuple[Decimal, Decimal]]:
    bodies = [exact(r) for r in await asyncio.gather(*(fresh("GET", base + "/balance", headers=headers)
                                                        for _ in range(reads)))]
    return [(b["availableBalance"], b["heldForTrades"]) for b in bodies]


async def test_a_cached_balance_is_never_served_after_another_process_commits(served):
    base, _, _ = served
    _, headers = await new_user(base, 10_000)
    limit = (await price_of(base, "AAPL") / 2).quantize(Decimal("0.01"))
    available, held = Decimal(10_000), Decimal(0)
    for _ in range(6):
        assert set(await balances(base, headers)) == {(available, held)}  # cached by both workers now
        await place(base, headers, limitPrice=limit)  # committed by either one
        available, held = available - limit, held + limit
        assert set(await balances(base, headers)) == {(available, held)}
    # a fill, committed by the core: the notification comes after its cache invalidation
    price = await price_of(base, "KO")
    host = base.removeprefix("http://")
    async with websockets.connect(f"ws://{host}/notifications/ws", additional_headers=headers) as ws:
        await ws.recv()
        trade = await place(base, headers, stockSymbol="KO", quantity=3, limitPrice=price)  # marketable
        await balances(base, headers)  # whatever they show now, they may be cached
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if message.get("type") == "trade.executed" and message["data"]["tradeId"] == trade["tradeId"]:
                break
    assert set(await balances(base, headers)) == {(available - 3 * price, held)}
    portfolios = await asyncio.gather(*(fresh("GET", base + "/portfolio", headers=headers) for _ in range(8)))
    assert {json.dumps(exact(p)["holdings"], default=str) for p in portfolios} == {
        json.dumps(exact(portfolios[0])["holdings"], default=str)}
    assert [(h["stockSymbol"], h["quantity"]) for h in exact(portfolios[0])["holdings"]] == [("KO", 3)]


async def test_a_price_set_through_one_worker_is_every_workers_price_and_fills_at_once(served):
    base, _, _ = served
    _, headers = await new_user(base, 100_000)
    old = await price_of(base, "MSFT")
    resting = await asyncio.gather(*(place(base, headers, stockSymbol="MSFT", quantity=2, limitPrice=old - 1)
                                     for _ in range(20)))
    new = old - 2
    response = await fresh("PUT", base + "/sim/stocks/MSFT", content=simplejson.dumps({"price": new}),
                           headers={**ADMIN, "Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert {await price_of(base, "MSFT") for _ in range(10)} == {new}
    # the venue had the orders when the price moved (the core flushes its outbox first), and
    # the route answers once their fills are applied, as in one process
    for order in resting:
        trade = exact(await fresh("GET", f"{base}/trade/{order['tradeId']}", headers=headers))
        assert trade["status"] == "executed" and trade["averageFillPrice"] == new
    previews = await asyncio.gather(*(fresh("POST", base + "/trade/preview", headers=headers, json={
        "stockSymbol": "MSFT", "quantity": 1, "tradeType": "buy", "orderType": "market"}) for _ in range(6)))
    assert {exact(p)["holdPrice"] for p in previews} == {(new * Decimal("1.05")).quantize(Decimal("0.0001"))}


def test_ctrl_c_stops_every_process_and_the_embedded_database_last(tmp_path):
    """From nothing, as a new user runs it: the embedded PostgreSQL too."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKERDESK_") and k != "XDG_RUNTIME_DIR"}
    env["TICKERDESK_PRICE_WALK_SECONDS"] = "0.2"  # the walk runs while it stops
    process, base = start_up(tmp_path, env)
    try:
        asyncio.run(wait_for_workers(base, tmp_path / "up.log"))
        group = process.pid
        stop_with_ctrl_c(process)
        log = (tmp_path / "up.log").read_text()
        assert process.returncode == 0, log
        assert "Traceback" not in log and "ERROR" not in log and "leaked" not in log, log
        assert processes_in_group(group) == []
        assert not (tmp_path / ".tickerdesk" / "pg" / "postmaster.pid").exists()  # stopped, not left running
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


def scratch_env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKERDESK_")}
    return env | {"TICKERDESK_DATABASE_URL": url, "TICKERDESK_JWT_SECRET": SECRET, "TICKERDESK_PRICE_WALK_SECONDS": "0"}


async def test_a_worker_that_dies_stops_everything_and_workers_outlive_no_core(tmp_path):
    async with fresh_database("tickerdesk_workers") as url:
        process, base = start_up(tmp_path, scratch_env(url))
        try:
            await wait_for_workers(base, tmp_path / "up.log")
            os.kill(workers_of(process.pid)[0], signal.SIGKILL)
            assert await asyncio.to_thread(process.wait, 30) == 1  # not a port that answers partly
            assert "a worker stopped unexpectedly" in (tmp_path / "up.log").read_text()
            assert processes_in_group(process.pid) == []
            # the core killed outright (it cannot stop them): the workers stop themselves
            process, base = start_up(tmp_path, scratch_env(url))
            await wait_for_workers(base, tmp_path / "up.log")
            workers = workers_of(process.pid)
            process.kill()
            process.wait(10)
            deadline = time.monotonic() + 20
            while processes_in_group(process.pid, zombies=False) and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            assert processes_in_group(process.pid, zombies=False) == [], workers
        finally:
            if process.poll() is None or processes_in_group(process.pid, zombies=False):
                os.killpg(process.pid, signal.SIGKILL)


async def test_one_worker_is_everything_in_one_process(tmp_path):
    async with fresh_database("tickerdesk_workers") as url:
        process, base = start_up(tmp_path, scratch_env(url), workers=1)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    if (await fresh("GET", base + "/readyz")).status_code == 200:
                        break
                await asyncio.sleep(0.2)
            assert workers_of(process.pid) == []
            assert worker_of(await fresh("GET", base + "/metrics")) is None
            _, headers = await new_user(base, 1000)
            await place(base, headers, limitPrice=(await price_of(base, "AAPL") / 2).quantize(Decimal("0.01")))
            stop_with_ctrl_c(process)
            assert processes_in_group(process.pid) == []
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
