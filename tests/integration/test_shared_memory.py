"""The shared-memory tables of `tickerdesk up --workers N`, across real processes: token
buckets spend each token once whichever process takes it, a commit in one process drops
every other process's cached value for that user, the core's prices are read exactly
by every worker, and the streams a worker holds open are counted where the core reads
them. The contract each adapter shares with its in-process and Redis twins is tested with
them (test_rate_limit.py, test_redis_cache.py)."""

from __future__ import annotations

import asyncio
import multiprocessing
from decimal import Decimal

import pytest

from tickerdesk.adapters.shared_memory.cache import SharedReadCache
from tickerdesk.adapters.shared_memory.listeners import SharedListeners
from tickerdesk.adapters.shared_memory.price_book import SharedPriceBook
from tickerdesk.adapters.shared_memory.rate_limit import SharedRateLimiter
from tickerdesk.adapters.shared_memory.tables import SharedTables, SharedTablesHandle
from tickerdesk.app.rate_limits import RateLimit

BALANCE = {"userId": "alice", "availableBalance": Decimal("10.5")}


@pytest.fixture
def tables():
    made = SharedTables.create(limit_slots=4096, generation_slots=4096, price_slots=64)
    try:
        yield made
    finally:
        made.close()


def _spend(handle: SharedTablesHandle, hits: int, start, results) -> None:
    """In another process: `hits` hits on one bucket, once every process is ready."""
    attached = handle.attach()
    limiter = SharedRateLimiter(attached.limits)
    start.wait()

    async def run() -> int:
        limit = RateLimit(rate=0.001, burst=150)
        return sum([(await limiter.hit("place:alice", limit)).allowed for _ in range(hits)])

    results.put(asyncio.run(run()))
    attached.close()


def _invalidate_and_read(handle: SharedTablesHandle, results) -> None:
    attached = handle.attach()
    cache = SharedReadCache(attached.generations)
    prices = SharedPriceBook(attached.prices)

    async def run() -> tuple:
        await cache.invalidate("alice")
        return prices.last("AAPL"), prices.last("BRK.B"), prices.last("NOPE")

    results.put(asyncio.run(run()))
    attached.close()


def test_processes_spend_each_token_of_a_bucket_once(tables):
    spawn = multiprocessing.get_context("spawn")
    start, results = spawn.Event(), spawn.Queue()
    workers = [spawn.Process(target=_spend, args=(tables.handle, 200, start, results)) for _ in range(3)]
    for worker in workers:
        worker.start()
    start.set()
    allowed = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(10)
    # 600 hits on a bucket of 150 that does not refill meanwhile (buckets of their own: 450)
    assert sum(allowed) == 150, allowed


async def test_a_commit_in_another_process_drops_this_ones_cached_value_and_prices_are_exact(tables):
    cache = SharedReadCache(tables.generations)
    SharedPriceBook(tables.prices, {"AAPL": Decimal("189.5000"), "BRK.B": Decimal("412345.0001")})
    version = await cache.version("alice")
    await cache.put("balance", "alice", BALANCE, version=version)
    await cache.put("balance", "bob", {**BALANCE, "userId": "bob"}, version=await cache.version("bob"))
    assert await cache.get("balance", "alice") == BALANCE
    spawn = multiprocessing.get_context("spawn")
    results = spawn.Queue()
    other = spawn.Process(target=_invalidate_and_read, args=(tables.handle, results))
    other.start()
    aapl, brk, unknown = results.get(timeout=60)
    other.join(10)
    assert await cache.get("balance", "alice") is None  # the other process committed a change for alice
    assert await cache.version("alice") == version + 1
    assert (await cache.get("balance", "bob"))["userId"] == "bob"  # bob's slot is another
    assert str(aapl) == "189.5000" and str(brk) == "412345.0001" and unknown is None


async def test_a_full_bucket_table_reuses_stale_slots_and_then_the_one_soonest_full():
    tables = SharedTables.create(limit_slots=4, generation_slots=8, price_slots=8)
    try:
        limiter = SharedRateLimiter(tables.limits)
        quick, slow = RateLimit(rate=1000, burst=1), RateLimit(rate=0.001, burst=1)
        for n in range(50):  # each is full again within a millisecond: its slot is free for the next
            assert (await limiter.hit(f"quick:{n}", quick)).allowed
            await asyncio.sleep(0.002)
        for n in range(4):  # four buckets that stay spent fill the table
            assert (await limiter.hit(f"slow:{n}", slow)).allowed
        assert not (await limiter.hit("slow:3", slow)).allowed  # still found, still spent
        # a fifth key takes over the slot soonest full (slow:0's) rather than fail; the others keep theirs
        assert (await limiter.hit("slow:4", slow)).allowed
        assert [(await limiter.hit(f"slow:{n}", slow)).allowed for n in range(1, 5)] == [False] * 4
    finally:
        tables.close()


def test_a_price_must_be_exact_in_ten_thousandths(tables):
    prices = SharedPriceBook(tables.prices)
    with pytest.raises(ValueError):
        prices.set("AAPL", Decimal("1.00001"))
    prices.set("AAPL", Decimal("0.0001"))
    assert prices.last("AAPL") == Decimal("0.0001")
    assert prices.snapshot() == {"AAPL": Decimal("0.0001")}


def _open_streams(handle: SharedTablesHandle, users: list[str], opened, close) -> None:
    """In another process (a worker): open a stream of each user's, then close them all."""
    attached = handle.attach()
    listeners = SharedListeners(attached.listeners)
    for user in users:
        listeners.add(user)
    opened.set()
    close.wait(30)
    for user in users:
        listeners.remove(user)
    attached.close()


def test_streams_opened_in_another_process_are_counted_until_each_is_closed(tables):
    listeners = SharedListeners(tables.listeners)
    context = multiprocessing.get_context("spawn")
    opened, close = context.Event(), context.Event()
    worker = context.Process(target=_open_streams, args=(tables.handle, ["alice", "alice", "bob"], opened, close))
    worker.start()
    assert opened.wait(30)
    listeners.add("alice")  # this process's own stream of alice's
    assert listeners.listening("alice") and listeners.listening("bob") and not listeners.listening("carol")
    close.set()
    worker.join(30)
    assert listeners.listening("alice") and not listeners.listening("bob")  # two closed, one still open
    listeners.remove("alice")
    listeners.remove("alice")  # one close too many (never below zero: the next open counts again)
    assert not listeners.listening("alice")
    listeners.add("alice")
    assert listeners.listening("alice")
