"""Shared fixtures: a fresh PostgreSQL database for the session, the one-process
runtime over it, an HTTP client, and funded users in one line.

The database server is `TICKERDESK_TEST_DATABASE_URL`, else the one on
127.0.0.1:5432, else an embedded one (pgserver). Each session creates its own
database and drops it at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
import simplejson

from tickerdesk.adapters.postgres.verify import verify
from tickerdesk.bootstrap import Runtime, open_up
from tickerdesk.config import Settings
from tickerdesk.entrypoints.http.app import create_app
from tickerdesk.entrypoints.http.auth import issue_token

# dynalite_endpoint and dynamo_history: a DynamoDB-API server for the session (tests/dynalite.py).
pytest_plugins = ["tests.dynalite"]

SECRET = "test-secret-that-is-long-enough-for-hs256"


def _server_url() -> str:
    if url := os.environ.get("TICKERDESK_TEST_DATABASE_URL"):
        return url
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
        return "postgresql://postgres@127.0.0.1:5432/postgres"
    except OSError:
        from pathlib import Path

        from tickerdesk.adapters.embedded_pg import start_embedded

        return start_embedded(Path(tempfile.gettempdir()) / "tickerdesk-test-pg")


def _with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    base = base.rsplit("/", 1)[0] + "/" + name
    return base + ("?" + query if query else "")


@contextlib.asynccontextmanager
async def fresh_database(prefix: str) -> AsyncIterator[str]:
    """An empty database of its own on the test server (its URL), dropped afterwards."""
    server = _server_url()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(server, name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    async with fresh_database("tickerdesk_test") as url:
        yield url


@pytest.fixture(scope="session")
def settings() -> Settings:
    generous = "100000/100000"  # the rate-limit tests set their own
    return Settings(jwt_secret=SECRET, price_walk_seconds=0, database_pool_size=20, log_json=False,
                    rate_limit_place=generous, rate_limit_cancel=generous, rate_limit_read=generous,
                    rate_limit_admin=generous, rate_limit_public=generous, rate_limit_auth_failures=generous,
                    heartbeat_seconds=0.5,
                    # The webhook tests' receivers listen on 127.0.0.1, which is refused by default.
                    webhook_allowed_hosts=["127.0.0.1"])


@pytest.fixture(scope="session")
async def runtime(settings: Settings, database_url: str) -> AsyncIterator[Runtime]:
    opened = await open_up(settings, database_url)
    await opened.start()
    try:
        yield opened
        await opened.settle()
        violations = await verify(opened.pool)
        assert not violations, f"invariants broken at the end of the session: {violations}"
    finally:
        await opened.close()


@pytest.fixture(scope="session")
async def client(settings: Settings, runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, services=runtime.services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://tickerdesk") as c:
        yield c


@pytest.fixture(scope="session")
async def live_url(settings: Settings, runtime: Runtime) -> AsyncIterator[str]:
    """The test app served by a real uvicorn on a free port, for WebSocket and SSE."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings, services=runtime.services), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off", server_header=False))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    await task


def exact(response: httpx.Response) -> Any:
    """The body with numbers as Decimal, as a careful client reads money."""
    return simplejson.loads(response.text, use_decimal=True)


_ADDRESSES = itertools.count()


def new_address() -> str:
    """A client address no other test of this process has used (the documentation ranges,
    762 of them), so a test never inherits a rate-limit bucket another one spent."""
    n = next(_ADDRESSES) % 762
    return f"{('192.0.2', '198.51.100', '203.0.113')[n // 254]}.{n % 254 + 1}"


def bearer(user_id: str, admin: bool = False) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(SECRET, user_id, admin=admin)}"}


ADMIN = bearer("operator", admin=True)


class Trader:
    """One user, talking to the API: the tests' vocabulary."""

    def __init__(self, client: httpx.AsyncClient, runtime: Runtime, user_id: str):
        self.client, self.runtime, self.user_id = client, runtime, user_id
        self.headers = bearer(user_id)

    async def place(self, expect: int | None = 201, headers: dict | None = None, **order: Any) -> dict:
        body = {"stockSymbol": "AAPL", "tradeType": "buy", "quantity": 1, **order}
        response = await self.client.post("/trade/place", json=body, headers={**self.headers, **(headers or {})})
        if expect is not None:
            assert response.status_code == expect, response.text
        await self.runtime.settle()  # the venue has seen the order before the test goes on
        return exact(response)

    async def cancel(self, trade_id: str, expect: int | None = 202) -> dict:
        response = await self.client.post(f"/trade/{trade_id}/cancel", headers=self.headers)
        if expect is not None:
            assert response.status_code == expect, response.text
        return exact(response)

    async def trade(self, trade_id: str) -> dict:
        await self.runtime.settle()
        response = await self.client.get(f"/trade/{trade_id}", headers=self.headers)
        assert response.status_code == 200, response.text
        return exact(response)

    async def get(self, path: str, **params: Any) -> dict:
        await self.runtime.settle()
        response = await self.client.get(path, headers=self.headers, params=params)
        assert response.status_code == 200, response.text
        return exact(response)

    async def balance(self) -> tuple[Decimal, Decimal]:
        body = await self.get("/balance")
        assert body["totalBalance"] == body["availableBalance"] + body["heldForTrades"]
        return body["availableBalance"], body["heldForTrades"]

    async def holding(self, symbol: str) -> dict | None:
        body = await self.get("/portfolio")
        return next((h for h in body["holdings"] if h["stockSymbol"] == symbol), None)

    async def deposit(self, amount: str | int) -> None:
        response = await self.client.post(
            "/admin/deposits", json={"userId": self.user_id, "amount": amount}, headers=ADMIN
        )
        assert response.status_code == 201, response.text


async def set_price(client: httpx.AsyncClient, symbol: str, price: str, liquidity: int | None = None) -> None:
    body: dict[str, Any] = {"price": price}
    if liquidity is not None:
        body["liquidity"] = liquidity
    response = await client.put(f"/sim/stocks/{symbol}", json=body, headers=ADMIN)
    assert response.status_code == 200, response.text


@pytest.fixture
def trader(client: httpx.AsyncClient, runtime: Runtime):
    """`await trader(10_000)`: a new user with that much cash."""

    async def make(cash: str | int | None = None) -> Trader:
        user = Trader(client, runtime, f"user-{uuid.uuid4().hex[:12]}")
        if cash is not None:
            await user.deposit(cash)
        return user

    return make


@pytest.fixture
async def trader_once(client: httpx.AsyncClient, runtime: Runtime) -> Trader:
    """One funded user for a whole hypothesis test (fixtures are not re-run per example)."""
    user = Trader(client, runtime, f"user-{uuid.uuid4().hex[:12]}")
    await user.deposit(1_000_000)
    return user


@pytest.fixture
def symbol(runtime: Runtime):
    """A stock of its own for one test, so that prices set by others cannot move it.

    Registered as a new instrument with price 100, then forgotten by nothing: the
    database is dropped at the end of the session."""

    async def make(price: str = "100") -> str:
        name = "T" + uuid.uuid4().hex[:6].upper()
        await runtime.pool.execute(
            "INSERT INTO instruments (symbol, name, reference_price, last_price) VALUES ($1, $1, $2, $2)",
            name, Decimal(price),
        )
        from tickerdesk.domain.instruments import Instrument

        runtime.services.add_instrument(Instrument(name, name), Decimal(price))
        return name

    return make


@pytest.fixture
async def scratch_database() -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    """A migrated database of its own (URL and pool), for tests that must own every row."""
    from tickerdesk.adapters.postgres.db import create_pool, migrate

    async with fresh_database("tickerdesk_scratch") as url:
        await migrate(url)
        pool = await create_pool(url, 4)
        try:
            yield url, pool
        finally:
            await pool.close()


@pytest.fixture
def scratch_pool(scratch_database: tuple[str, asyncpg.Pool]) -> asyncpg.Pool:
    return scratch_database[1]


REDIS_URL = os.environ.get("TICKERDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
async def redis_prefix():
    """A client on the test Redis and a key prefix of the test's own, deleted after.

    The client waits for a free connection under a burst, as the production one does."""
    from tickerdesk.adapters.redis.client import redis_client

    client = redis_client(REDIS_URL, max_connections=200)
    prefix = f"test-{uuid.uuid4().hex}"
    try:
        yield client, prefix
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
