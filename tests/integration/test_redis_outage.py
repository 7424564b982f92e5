"""While Redis is unreachable (killed, or between a Sentinel failover's two primaries),
each of its uses degrades and nothing that decides money stops:

- rate limits fall back to the process's own buckets (still limiting), then use Redis again;
- the read cache is bypassed, failed invalidations are paid once Redis answers, and
  values cached before the outage are dropped before any is served again;
- the notification hub ends its streams (clients resume from the inbox) and a publish
  does not raise;
- the venue-sim's book keeps a save that failed and writes it with the next one;
- an api replica keeps placing orders (201) with Redis SIGKILLed.

Each test runs a redis-server of its own on a free port (Debian's, as in production)
and kills it with SIGKILL.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from tickerdesk.adapters.redis.cache import BYPASS, RedisReadCache
from tickerdesk.adapters.redis.client import UNAVAILABLE, redis_client
from tickerdesk.adapters.redis.hub import RedisHub
from tickerdesk.adapters.redis.rate_limit import RedisRateLimiter
from tickerdesk.adapters.redis.sim_book import RedisSimState
from tickerdesk.app.ports import VenueOrder
from tickerdesk.app.rate_limits import RateLimit
from tickerdesk.domain.orders import Side, TimeInForce

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
pytestmark = pytest.mark.skipif(not os.path.exists(REDIS_SERVER), reason="no redis-server")


class Server:
    """A redis-server with an append-only file: killed and started again, it comes back
    with its data, as a promoted replica does (with what it had)."""

    def __init__(self, directory: Path):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--maxmemory", "64mb"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


@pytest.fixture
def server() -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="tickerdesk-redis-") as directory:
        s = Server(Path(directory))
        s.start()
        try:
            yield s
        finally:
            if s.process and s.process.poll() is None:
                s.kill()


async def until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_rate_limits_fall_back_to_the_processs_own_buckets_and_come_back(server):
    client = redis_client(server.url)
    limiter = RedisRateLimiter(client, prefix="t")
    limit = RateLimit(rate=0.001, burst=2)
    assert (await limiter.hit("place:alice", limit)).allowed
    server.kill()
    decisions = [await limiter.hit("place:alice", limit) for _ in range(3)]
    assert limiter.degraded
    assert [d.allowed for d in decisions] == [True, True, False]  # degraded, yet still a limit
    server.start()
    second = await limiter.hit("place:alice", limit)  # Redis's bucket again: one token was left
    assert second.allowed and not limiter.degraded
    assert not (await limiter.hit("place:alice", limit)).allowed
    await client.aclose()


async def test_the_cache_is_bypassed_and_nothing_from_before_the_outage_is_served_after_it(server):
    client = redis_client(server.url)
    cache = RedisReadCache(client, prefix="t", ttl_seconds=300)
    for user in ("alice", "bob"):
        await cache.put("balance", user, {"cash": user}, version=await cache.version(user))
        assert await cache.get("balance", user) == {"cash": user}
    server.kill()
    assert await cache.get("balance", "alice") is None
    assert await cache.version("alice") == BYPASS
    await cache.put("balance", "alice", {"cash": "during"}, version=BYPASS)  # stores nothing, raises nothing
    await cache.invalidate("alice")  # a commit's invalidation: owed, not raised
    server.start()  # comes back with its old values, like a replica promoted with what it had

    async def recovered() -> bool:
        await cache.get("balance", "bob")
        return not cache.degraded

    await until(recovered)
    assert await cache.get("balance", "alice") is None
    assert await cache.get("balance", "bob") is None  # dropped too: its invalidation may have been lost
    assert await client.get("t:cache:version:alice") == b"1"  # the owed bump was paid (it was 0)
    await cache.put("balance", "alice", {"cash": "fresh"}, version=await cache.version("alice"))
    assert await cache.get("balance", "alice") == {"cash": "fresh"}
    await client.aclose()


async def test_the_hub_ends_its_streams_when_redis_goes_and_publishing_does_not_raise(server):
    client = redis_client(server.url)
    hub = RedisHub(client, "t")
    async with hub.subscribe("alice") as live:
        server.kill()

        async def ended() -> bool:
            return live.overflowed

        await until(ended)  # the client is told to reconnect and resume from the inbox
        await hub.publish([])  # nothing to do
    assert hub.connections == 0
    await hub.close()
    await client.aclose()


def venue_order(trade_id: str) -> VenueOrder:
    return VenueOrder(trade_id, "alice", "AAPL", Side.BUY, 1, Decimal("1.00"), TimeInForce.DAY,
                      datetime(2030, 1, 2, 15, tzinfo=UTC))


async def test_a_book_save_that_failed_is_written_with_the_next_one(server):
    client = redis_client(server.url)
    state = RedisSimState(client, "t")
    server.kill()
    first = {"orders": {"one": {"order": venue_order("one"), "cumulative": 0}}, "liquidity": {}, "closedAt": None}
    with pytest.raises(UNAVAILABLE):
        await state.save(first)
    server.start()
    await state.save({"orders": {"two": {"order": venue_order("two"), "cumulative": 0}}, "liquidity": {},
                      "closedAt": None})
    orders, seen, _, _ = await state.load()
    assert sorted(o.trade_id for o, _ in orders) == ["one", "two"] and seen == {"one", "two"}
    await client.aclose()


async def test_an_api_replica_places_orders_with_redis_killed(server, scratch_database) -> None:
    from tests.conftest import ADMIN, SECRET, bearer
    from tickerdesk.bootstrap import open_api, prepare_database
    from tickerdesk.config import Settings
    from tickerdesk.entrypoints.http.app import create_app

    url, _ = scratch_database
    settings = Settings(database_url=url, redis_url=server.url, amqp_url=os.environ.get(
        "TICKERDESK_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"), instance=f"t-{uuid.uuid4().hex[:8]}",
        jwt_secret=SECRET, log_json=False, data_dir=Path(tempfile.mkdtemp(prefix="tickerdesk-outage-")))
    await prepare_database(settings)
    runtime = await open_api(settings)
    await runtime.start()
    app = create_app(settings, services=runtime.services)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            response = await http.post("/admin/deposits", json={"userId": "alice", "amount": 100_000}, headers=ADMIN)
            assert response.status_code == 201, response.text
            order = {"stockSymbol": "AAPL", "tradeType": "buy", "quantity": 1, "orderType": "limit",
                     "limitPrice": "150.00"}
            assert (await http.post("/trade/place", json=order, headers=bearer("alice"))).status_code == 201
            server.kill()
            for _ in range(5):
                response = await http.post("/trade/place", json=order, headers=bearer("alice"))
                assert response.status_code == 201, response.text
            balance = await http.get("/balance", headers=bearer("alice"))  # from PostgreSQL, the cache bypassed
            assert balance.status_code == 200
            assert Decimal(str(balance.json()["heldForTrades"])) == Decimal("900.00")  # six limit buys at 150
    finally:
        await runtime.close()
        shutil.rmtree(settings.data_dir, ignore_errors=True)
        from tests.e2e.topology import cleanup_broker

        assert settings.amqp_url is not None
        await cleanup_broker(settings.instance, settings.amqp_url)  # its queues and exchanges, which it declared
