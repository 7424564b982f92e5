"""RabbitMQ's price, as pgbench is PostgreSQL's: what one broker does with messages
like tickerdesk's (the capacity model in the README multiplies it).

A quorum queue of its own (as tickerdesk's durable queues are in a cluster), 500-byte
persistent messages (the requirements' size of a trade), published with publisher
confirms in windows of `window` (as the relay publishes), consumed with manual acks and
a prefetch (as the workers consume), publisher and consumer at once; the queue is
deleted afterwards, whatever happens.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

import aio_pika

MESSAGE = b"x" * 500


@dataclass
class BrokerRate:
    messages: int
    published_per_second: float | None
    delivered_per_second: float | None  # consumed and acked, from the first publish
    error: str | None = None


async def run_broker(url: str, messages: int, window: int = 256, prefetch: int = 256) -> BrokerRate:
    try:
        connection = await asyncio.wait_for(aio_pika.connect(url), 10)
    except (OSError, TimeoutError, aio_pika.exceptions.AMQPError) as error:
        return BrokerRate(messages, None, None, f"no broker at {url.rsplit('@', 1)[-1]}: {error}")
    name = f"tickerdesk-bench-{uuid.uuid4().hex[:8]}"
    try:
        publishing = await connection.channel(publisher_confirms=True)
        consuming = await connection.channel()
        await consuming.set_qos(prefetch_count=prefetch)
        queue = await consuming.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
        done = asyncio.Event()
        received = 0

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal received
            await message.ack()
            received += 1
            if received == messages:
                done.set()

        tag = await queue.consume(on_message)
        started = time.monotonic()
        for first in range(0, messages, window):
            await asyncio.gather(*(
                publishing.default_exchange.publish(
                    aio_pika.Message(MESSAGE, delivery_mode=aio_pika.DeliveryMode.PERSISTENT), routing_key=name)
                for _ in range(first, min(messages, first + window))))
        published = time.monotonic() - started
        await asyncio.wait_for(done.wait(), 120)
        delivered = time.monotonic() - started
        await queue.cancel(tag)
        return BrokerRate(messages, messages / published, messages / delivered)
    except (OSError, TimeoutError, aio_pika.exceptions.AMQPError) as error:
        return BrokerRate(messages, None, None, str(error) or type(error).__name__)
    finally:
        try:
            cleanup = await connection.channel()
            await cleanup.queue_delete(name)
        except (OSError, aio_pika.exceptions.AMQPError):
            pass
        await connection.close()
