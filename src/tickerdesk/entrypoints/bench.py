"""`tickerdesk bench`: placements per second, measured, with a baseline from the same run.

It makes a scratch database, funds users, and measures three things against one
`tickerdesk up` server it starts: a no-op request (`GET /healthz`, the floor of the
HTTP stack on this machine), `GET /balance` (one indexed read), and `POST /trade/place`
(resting limit buys: hold, trade, ledger and outbox in one statement). Ratios to the
floor travel between machines better than raw figures.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import asyncpg


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    latencies: list[float]
    failures: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


async def _load(name: str, total: int, concurrency: int, call: Callable[[int], Awaitable[int]], ok: int) -> Result:
    latencies: list[float] = []
    failures = 0
    counter = iter(range(total))

    async def worker() -> None:
        nonlocal failures
        for i in counter:
            started = time.perf_counter()
            status = await call(i)
            latencies.append(time.perf_counter() - started)
            failures += status != ok
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Result(name, total, time.perf_counter() - started, latencies, failures)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def run(server_url: str, orders: int, concurrency: int, users: int, target: str | None = None,
              secret: str | None = None) -> list[Result]:
    """Against `target` (a running deployment, tokens signed with `secret`), or else
    against a `tickerdesk up` started here on a scratch database."""
    if target:
        if secret is None:
            raise ValueError("measuring a running deployment needs its HS256 JWT secret")
        return await measure(target, secret, orders, concurrency, users)
    name = f"tickerdesk_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    base_url, _, query = server_url.partition("?")
    database_url = base_url.rsplit("/", 1)[0] + "/" + name + ("?" + query if query else "")
    secret = uuid.uuid4().hex * 2
    port = _free_port()
    env = {**os.environ, "TICKERDESK_DATABASE_URL": database_url, "TICKERDESK_JWT_SECRET": secret,
           "TICKERDESK_PRICE_WALK_SECONDS": "0", "TICKERDESK_LOG_LEVEL": "warning"}
    server = subprocess.Popen([sys.executable, "-m", "tickerdesk.entrypoints.cli", "up", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return await measure(f"http://127.0.0.1:{port}", secret, orders, concurrency, users)
    finally:
        server.terminate()
        server.wait(30)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def measure(base_url: str, secret: str, orders: int, concurrency: int, users: int) -> list[Result]:
    from tickerdesk.entrypoints.http.auth import issue_token

    run_id = uuid.uuid4().hex[:6]
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base_url, connector=connector) as session:

        async def get(path: str, headers: dict | None = None) -> int:
            async with session.get(path, headers=headers) as response:
                await response.read()
                return response.status

        async def post(path: str, body: dict, headers: dict) -> int:
            async with session.post(path, json=body, headers=headers) as response:
                await response.read()
                return response.status

        for _ in range(120):
            try:
                if await get("/readyz") == 200:
                    break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)
        ops = {"Authorization": f"Bearer {issue_token(secret, 'ops', admin=True)}"}
        tokens = [{"Authorization": f"Bearer {issue_token(secret, f'bench-{run_id}-{u}')}"} for u in range(users)]
        for u in range(users):
            await post("/admin/deposits", {"userId": f"bench-{run_id}-{u}", "amount": 10**9}, ops)
        await _load("warm-up", 500, concurrency, lambda i: get("/healthz"), 200)
        return [
            await _load("GET /healthz (floor)", orders, concurrency, lambda i: get("/healthz"), 200),
            await _load("GET /balance", orders, concurrency, lambda i: get("/balance", tokens[i % users]), 200),
            await _load("POST /trade/place", orders, concurrency, lambda i: post(
                "/trade/place",
                {"stockSymbol": "AAPL", "quantity": 1 + i % 10, "tradeType": "buy",
                 "orderType": "limit", "limitPrice": "100.25", "timeInForce": "gtc"},
                tokens[i % users]), 201),
        ]
