"""The event bus on the real RabbitMQ: confirmed publishing, retries with back-off,
dead letters, ordered consumers, and the outbox relay."""

import asyncio
import json
import os
import uuid
from dataclasses import replace

import aio_pika
import pytest

from tickerdesk.adapters.postgres.outbox import OutboxRelay
from tickerdesk.adapters.rabbitmq.broker import CONSUMERS, Broker, shard_of
from tickerdesk.domain.errors import InvalidRequest

AMQP_URL = os.environ.get("TICKERDESK_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


@pytest.fixture
async def broker():
    instance = f"test-{uuid.uuid4().hex[:10]}"
    broker = await Broker.connect(AMQP_URL, instance)
    yield broker
    connection = await aio_pika.connect(AMQP_URL)
    channel = await connection.channel()
    for name in broker.all_queue_names():
        await channel.queue_delete(name)
    for exchange in ("events", "venue", "prices"):
        await channel.exchange_delete(f"{instance}.{exchange}")
    await connection.close()
    await broker.close()


def event(kind="trade.placed", user="u1", n=0):
    return {"id": str(uuid.uuid4()), "type": kind, "userId": user, "occurredAt": "2026-01-01T00:00:00Z",
            "data": {"tradeId": str(uuid.uuid4()), "n": n}}


async def consume_until(broker, spec, handler, done: asyncio.Event, timeout=15):
    task = asyncio.create_task(broker.consume(spec, handler))
    try:
        await asyncio.wait_for(done.wait(), timeout)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def queue_messages(broker, name):
    async with await aio_pika.connect(AMQP_URL) as connection:
        channel = await connection.channel()
        queue = await channel.get_queue(broker.name(name), ensure=False)
        messages = []
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            messages.append(message)
        return messages


async def test_published_events_reach_every_bound_queue(broker):
    events = [event("trade.placed"), event("balance.updated")]
    await broker.publish_events(events)
    await asyncio.sleep(0.2)
    history = await queue_messages(broker, "history")
    webhooks = await queue_messages(broker, "webhooks")
    assert [m.message_id for m in history] == [events[0]["id"]]  # history takes trade events only
    assert [m.message_id for m in webhooks] == [e["id"] for e in events]
    assert all(m.delivery_mode == aio_pika.DeliveryMode.PERSISTENT for m in webhooks)


async def test_a_failing_message_is_retried_with_back_off_then_handled_once(broker):
    spec = replace(CONSUMERS["history"], max_attempts=5)
    attempts, handled, done = [], [], asyncio.Event()

    async def handler(body):
        attempts.append(asyncio.get_running_loop().time())
        if len(attempts) < 3:
            raise ConnectionError("database away")
        handled.append(body["id"])
        done.set()

    sent = event()
    await broker.publish_events([sent])
    await consume_until(broker, spec, handler, done)
    assert handled == [sent["id"]]
    assert len(attempts) == 3
    assert attempts[1] - attempts[0] >= 0.1  # it waited out a back-off, not re-delivered at once
    assert await queue_messages(broker, "history.dead") == []


async def test_a_poison_message_ends_in_the_dead_letter_queue(broker):
    spec = replace(CONSUMERS["history"], max_attempts=2)
    calls, done = [], asyncio.Event()

    async def handler(body):
        calls.append(body["id"])
        if len(calls) == 2:
            asyncio.get_running_loop().call_later(0.3, done.set)
        raise ValueError("cannot parse")

    sent = event()
    await broker.publish_events([sent])
    await consume_until(broker, spec, handler, done)
    dead = await queue_messages(broker, "history.dead")
    assert [m.message_id for m in dead] == [sent["id"]]
    assert "cannot parse" in dead[0].headers["x-error"]
    assert len(calls) == 2


async def test_a_message_that_can_never_apply_is_dead_lettered_at_once(broker):
    calls, done = [], asyncio.Event()

    async def handler(body):
        calls.append(1)
        asyncio.get_running_loop().call_later(0.3, done.set)
        raise InvalidRequest("no such order")

    await broker.publish_events([event()])
    await consume_until(broker, CONSUMERS["history"], handler, done)
    assert len(calls) == 1
    assert len(await queue_messages(broker, "history.dead")) == 1


async def test_an_ordered_consumer_retries_in_place_and_keeps_the_order(broker):
    spec = CONSUMERS["notifier"]
    seen, failures, done = [], [0], asyncio.Event()

    async def handler(body):
        if body["data"]["n"] == 1 and failures[0] < 2:
            failures[0] += 1
            raise ConnectionError("flaky")
        seen.append(body["data"]["n"])
        if len(seen) == 5:
            done.set()

    await broker.publish_events([event("balance.updated", n=n) for n in range(5)])
    await consume_until(broker, spec, handler, done)
    assert seen == [0, 1, 2, 3, 4]
    assert failures[0] == 2


async def test_an_outage_delays_a_message_but_never_dead_letters_it(broker):
    """A failover that outlasts the retries (the database or a broker node away) must not
    park a good message: an order would never reach the venue. Ordered and competing
    consumers alike retry it until the outage passes."""
    sent = event("trade.placed")  # bound to both consumers below
    await broker.publish_events([sent])
    for name in ("notifier", "history"):
        spec = replace(CONSUMERS[name], max_attempts=2)
        calls, handled, done = [], [], asyncio.Event()

        async def handler(body, calls=calls, handled=handled, done=done):
            calls.append(1)
            if len(calls) <= 3:
                raise ConnectionError("database away")
            handled.append(body["id"])
            done.set()

        await consume_until(broker, spec, handler, done)
        assert handled == [sent["id"]], name
        queue = f"{name}.{shard_of('u1', broker.shards)}" if spec.sharded else name
        assert await queue_messages(broker, f"{queue}.dead") == []


async def test_a_consumer_the_broker_cancels_consumes_again(broker):
    """RabbitMQ can cancel a consumer on a live connection (basic.cancel: its queue was
    deleted, or a quorum queue lost the replica it consumed from); the consumer must
    notice and consume again, not wait on a silent channel forever."""
    seen, first_seen, done = [], asyncio.Event(), asyncio.Event()

    async def handler(body):
        seen.append(body["id"])
        (first_seen if len(seen) == 1 else done).set()

    task = asyncio.create_task(broker.consume(CONSUMERS["history"], handler))
    try:
        first, second = event(), event()
        await broker.publish_events([first])
        await asyncio.wait_for(first_seen.wait(), 15)
        async with await aio_pika.connect(AMQP_URL) as connection:
            await (await connection.channel()).queue_delete(broker.name("history"))  # the broker cancels
        await broker.declare()
        await broker.publish_events([second])
        await asyncio.wait_for(done.wait(), 15)
        assert seen == [first["id"], second["id"]]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_the_relay_publishes_committed_events_and_removes_them(broker, scratch_pool):
    await scratch_pool.execute(
        """INSERT INTO outbox (event_id, user_id, type, payload)
           SELECT gen_random_uuid(), 'u', 'trade.placed',
                  jsonb_build_object('id', gen_random_uuid(), 'type', 'trade.placed', 'userId', 'u',
                                     'occurredAt', now()::text, 'data', jsonb_build_object('n', g))
           FROM generate_series(1, 30) g"""
    )
    relay = OutboxRelay(scratch_pool, broker.publish_events, batch=7, exclusive=True)
    await relay.drain()
    assert await scratch_pool.fetchval("SELECT count(*) FROM outbox") == 0
    await asyncio.sleep(0.2)
    received = await queue_messages(broker, "history")
    assert [json.loads(m.body)["data"]["n"] for m in received] == list(range(1, 31))  # all, once, in order


async def test_events_stay_in_the_outbox_when_the_broker_refuses_them(scratch_pool):
    await scratch_pool.execute(
        """INSERT INTO outbox (event_id, user_id, type, payload) VALUES
           (gen_random_uuid(), 'u', 'trade.placed', '{"id": "x", "type": "trade.placed"}')"""
    )

    async def broker_down(events):
        raise ConnectionError("broker unreachable")

    with pytest.raises(ConnectionError):
        await OutboxRelay(scratch_pool, broker_down).relay_once()
    assert await scratch_pool.fetchval("SELECT count(*) FROM outbox") == 1


async def test_only_one_exclusive_relay_publishes_at_a_time(scratch_pool):
    await scratch_pool.execute(
        """INSERT INTO outbox (event_id, user_id, type, payload)
           SELECT gen_random_uuid(), 'u', 'trade.placed', jsonb_build_object('n', g) FROM generate_series(1, 5) g"""
    )
    published, inside = [], asyncio.Event()
    release = asyncio.Event()

    async def slow(events):
        published.append(len(events))
        inside.set()
        await release.wait()

    first = OutboxRelay(scratch_pool, slow, exclusive=True)
    second = OutboxRelay(scratch_pool, slow, exclusive=True)
    task = asyncio.create_task(first.relay_once())
    await inside.wait()
    assert await second.relay_once() == 0  # stands by while the first publishes
    release.set()
    assert await task == 5
    assert published == [5]


async def test_two_drains_of_one_relay_take_turns_and_keep_the_order(scratch_pool):
    """A test's `settle` drains beside the relay's own loop: the second must wait for the
    first's batch, not skip its locked rows and hand the next ones over first."""
    await scratch_pool.execute(
        """INSERT INTO outbox (event_id, user_id, type, payload)
           SELECT gen_random_uuid(), 'u', 'trade.placed', jsonb_build_object('n', g) FROM generate_series(1, 6) g"""
    )
    published: list[int] = []
    inside, release = asyncio.Event(), asyncio.Event()

    async def publish(events):
        if not inside.is_set():  # the first batch is held until the second drain has started
            inside.set()
            await release.wait()
        published.extend(json.loads(e)["n"] if isinstance(e, str) else e["n"] for e in events)

    relay = OutboxRelay(scratch_pool, publish, batch=3)
    loop_drain = asyncio.create_task(relay.drain())
    await inside.wait()
    settle_drain = asyncio.create_task(relay.drain())
    try:
        await asyncio.sleep(0.2)  # without turns, this one would have published 4-6 by now
        assert published == []
    finally:
        release.set()
        await asyncio.gather(loop_drain, settle_drain)
    assert published == [1, 2, 3, 4, 5, 6]
