"""The broker knows every node of a cluster: a node that does not answer is skipped,
for the publisher and for every consumer, and the one that answered is tried first
next time. Retry queues are quorum queues; one an older release declared classic is
kept as it was (a queue's type cannot change in place).

The dead node is a closed local port; the live one the test RabbitMQ. The three-node
cluster itself is exercised by tests/chaos (make chaos)."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid

import aio_pika
import pytest

from tickerdesk.adapters.rabbitmq.broker import CONSUMERS, Broker, cluster_urls

AMQP_URL = os.environ.get("TICKERDESK_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


def dead_url() -> str:
    with socket.socket() as s:  # a port nothing listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"amqp://guest:guest@127.0.0.1:{port}/"


def test_every_node_once_in_the_order_given() -> None:
    assert cluster_urls("amqp://a/, amqp://b/", "amqp://b/,amqp://c/") == ["amqp://a/", "amqp://b/", "amqp://c/"]
    assert cluster_urls("amqp://a/") == ["amqp://a/"]


async def _drop(instance: str, names: list[str]) -> None:
    connection = await aio_pika.connect(AMQP_URL)
    channel = await connection.channel()
    for name in names:
        await channel.queue_delete(name)
    for exchange in ("events", "venue", "prices"):
        await channel.exchange_delete(f"{instance}.{exchange}")
    await connection.close()


async def test_a_dead_node_is_skipped_by_the_publisher_and_the_consumers() -> None:
    instance = f"test-{uuid.uuid4().hex[:10]}"
    broker = await Broker.connect(dead_url(), instance, 2, AMQP_URL)
    try:
        assert broker.url == AMQP_URL  # the live one, tried first from now on
        got: list[dict] = []
        done = asyncio.Event()

        async def handle(body: dict) -> None:
            got.append(body)
            done.set()

        task = asyncio.create_task(broker.consume(CONSUMERS["history"], handle))
        event = {"id": str(uuid.uuid4()), "type": "trade.placed", "userId": "u1",
                 "occurredAt": "2026-01-01T00:00:00Z", "data": {}}
        await broker.publish_events([event])
        await asyncio.wait_for(done.wait(), 15)
        assert got[0]["id"] == event["id"]
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    finally:
        await broker.close()
        await _drop(instance, broker.all_queue_names())


async def test_retry_queues_are_quorum_and_an_older_classic_one_is_kept() -> None:
    instance = f"test-{uuid.uuid4().hex[:10]}"
    connection = await aio_pika.connect(AMQP_URL)
    channel = await connection.channel()
    old = f"{instance}.history.retry"
    await channel.declare_queue(old, durable=True, arguments={
        "x-dead-letter-exchange": "", "x-dead-letter-routing-key": f"{instance}.history"})
    await connection.close()
    broker = await Broker.connect(AMQP_URL, instance, 2)  # declares everything: no error for the old one
    try:
        probe = await aio_pika.connect(AMQP_URL)
        check = await probe.channel()
        await check.declare_queue(f"{instance}.webhooks.retry", passive=True)
        with pytest.raises(aio_pika.exceptions.ChannelPreconditionFailed):  # it is a quorum queue
            await check.declare_queue(f"{instance}.webhooks.retry", durable=True, arguments={
                "x-dead-letter-exchange": "", "x-dead-letter-routing-key": f"{instance}.webhooks"})
        await probe.close()
    finally:
        await broker.close()
        await _drop(instance, broker.all_queue_names())
