"""The notification hub of `tickerdesk up --workers N` over PostgreSQL LISTEN/NOTIFY, on
a database of its own: what the core publishes reaches the subscribers of another
process's hub, in order, only for their user; a notification too large for a NOTIFY
payload travels as a pointer and is read from the inbox; closing a hub ends its streams;
given the count of open streams, the core sends only what some stream will read.
The simulator's commands make the same trip and back."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg
import pytest

from tests.unit.factories import make_order
from tickerdesk.adapters.postgres.db import create_pool
from tickerdesk.adapters.postgres.hub import CHANNEL, PgHub
from tickerdesk.adapters.postgres.inbox import PgInbox
from tickerdesk.adapters.postgres.listen import PgListener
from tickerdesk.adapters.postgres.sim_control import PgSimCommands, PgSimControl
from tickerdesk.adapters.shared_memory.listeners import SharedListeners
from tickerdesk.adapters.shared_memory.tables import SharedTables
from tickerdesk.domain.events import TradePlaced


@pytest.fixture
async def two_processes(scratch_database):
    """The core's hub (publishes) and a worker's (listens), on pools of their own."""
    url, core_pool = scratch_database
    worker_pool = await create_pool(url, 4)
    listener = await PgListener.connect(url)
    core = PgHub(core_pool, PgInbox(core_pool))
    worker = PgHub(worker_pool, PgInbox(worker_pool), listener, max_payload_bytes=1200)
    try:
        yield core, worker, PgInbox(core_pool)
    finally:
        await worker.close()
        await listener.close()
        await worker_pool.close()


def placed(user_id: str, n: int, note: str = "") -> TradePlaced:
    order = make_order(user_id=user_id, trade_id=str(uuid.uuid4()), quantity=n + 1,
                       client_order_id=note or None)
    return TradePlaced(user_id=user_id, occurred_at=datetime.now(UTC), order=order)


async def receive(subscription, count: int) -> list:
    return [await asyncio.wait_for(subscription.get(), 5) for _ in range(count)]


async def test_notifications_reach_the_other_process_in_order_and_only_for_their_user(two_processes):
    core, worker, inbox = two_processes
    # every other one too large for the worker's payload limit: read back from the inbox
    events = [placed("alice", n, "x" * 1000 if n % 2 else "") for n in range(6)]
    async with worker.subscribe("alice") as alice, worker.subscribe("bob") as bob:
        stored = await inbox.store([*events[:3], placed("bob", 9), *events[3:]])
        await core.publish(stored)
        got = await receive(alice, 6)
        assert [n.seq for n in got] == [n.seq for n in stored if n.event.user_id == "alice"]
        assert [n.event for n in got] == events  # the same events, exactly (large ones too)
        assert (await receive(bob, 1))[0].event.user_id == "bob"
        assert alice.empty() and bob.empty()


async def test_closing_a_hub_ends_its_streams(two_processes):
    _, worker, _ = two_processes
    async with worker.subscribe("carol") as carol:
        await worker.close()
        await asyncio.wait_for(carol.get(), 5)  # woken at once
        assert carol.overflowed  # the stream closes; its client resumes from the inbox


async def test_the_core_sends_only_the_notifications_of_users_with_a_stream_open(scratch_database):
    url, core_pool = scratch_database
    tables = SharedTables.create(limit_slots=1, generation_slots=1, price_slots=1, listener_slots=1024)
    listeners = SharedListeners(tables.listeners)
    worker_pool = await create_pool(url, 4)
    listener = await PgListener.connect(url)
    core = PgHub(core_pool, PgInbox(core_pool), listeners=listeners)
    worker = PgHub(worker_pool, PgInbox(worker_pool), listener, listeners=listeners)
    inbox = PgInbox(core_pool)
    sent: list[str] = []  # the user of every NOTIFY on the channel, as a third process sees them

    def heard(connection, pid, channel, payload: str) -> None:
        length, _, rest = payload.partition(":")  # `<length of the user id>:<user id><body>`
        sent.append(rest[: int(length)])

    spy = await asyncpg.connect(url)
    await spy.add_listener(CHANNEL, heard)
    try:
        async with worker.subscribe("alice") as alice:
            stored = await inbox.store([placed("bob", 1), placed("alice", 2), placed("bob", 3)])
            await core.publish(stored)
            assert [n.seq for n in await receive(alice, 1)] == [stored[1].seq]
        await core.publish(await inbox.store([placed("alice", 4)]))  # alice's stream is closed now
        await spy.execute("SELECT pg_notify($1, '5:carol{}')", CHANNEL)  # a marker: everything before it arrived
        for _ in range(100):
            if "carol" in sent:
                break
            await asyncio.sleep(0.05)
        assert sent == ["alice", "carol"]  # bob had no stream; alice's second came after hers closed
        # and each notification is in the inbox all the same, where a stream opened later starts
        assert len(await inbox.after("bob", after=0, limit=10)) == 2
        assert len(await inbox.after("alice", after=0, limit=10)) == 2
    finally:
        await spy.close()
        await worker.close()
        await listener.close()
        await worker_pool.close()
        tables.close()


class Venue:
    def __init__(self):
        self.calls: list[tuple] = []

    async def set_price(self, symbol, price, liquidity):
        if symbol == "FAIL":
            raise RuntimeError("no such book")
        self.calls.append((symbol, price, liquidity))

    async def close_session(self, at):
        self.calls.append(("close", at))


async def test_simulator_commands_are_calls_answered_by_the_core(scratch_database):
    url, pool = scratch_database
    core_listener, worker_listener = await PgListener.connect(url), await PgListener.connect(url)
    venue = Venue()
    commands = PgSimCommands(pool, venue)
    await commands.listen(core_listener)
    running = asyncio.create_task(commands.run())
    try:
        control = PgSimControl(pool, worker_listener, timeout=5)
        await control.set_price("AAPL", Decimal("189.5001"), 3)
        at = datetime(2026, 1, 2, 21, 0, tzinfo=UTC)
        await control.close_session(at)
        assert venue.calls == [("AAPL", Decimal("189.5001"), 3), ("close", at)]  # done when the call returns
        with pytest.raises(RuntimeError, match="no such book"):
            await control.set_price("FAIL", Decimal(1), None)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await core_listener.close()
        await worker_listener.close()


async def test_a_lost_listening_connection_ends_the_streams_and_is_made_again(two_processes, scratch_database):
    core, worker, inbox = two_processes
    _, pool = scratch_database
    async with worker.subscribe("dave") as before:
        # the server ends the worker's listening connection (a restart, a network cut)
        assert await pool.fetchval("""SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                                       WHERE query LIKE 'LISTEN%' AND datname = current_database()""") == 1
        await asyncio.wait_for(before.get(), 10)
        assert before.overflowed  # what is sent meanwhile is lost to it: its client resumes from the inbox
    for _ in range(50):  # until it listens again (a stream opened meanwhile is ended too)
        async with worker.subscribe("dave") as after:
            stored = await inbox.store([placed("dave", 1)])
            await core.publish(stored)
            got = await asyncio.wait_for(after.get(), 10)
            if not after.overflowed:
                assert got.seq == stored[0].seq
                return
        await asyncio.sleep(0.1)
    pytest.fail("the hub did not listen again")
