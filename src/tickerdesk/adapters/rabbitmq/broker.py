"""RabbitMQ: the event bus between tickerdesk's processes, and the line to the venue.

Topology (every name prefixed by the instance, so stacks can share a broker):
- `<i>.events`, a topic exchange: outbox events, routed by type (`trade.placed`).
- `<i>.venue`, a direct exchange: `orders` (orders, cancels and simulator commands to
  the venue) and `reports` (execution reports back).
- `<i>.prices`, a fanout exchange: price ticks for every api replica.
- per consumer, a durable quorum queue `<i>.<name>`, a retry queue `<i>.<name>.retry`
  (messages wait out their back-off there, then dead-letter back) and a dead-letter
  queue `<i>.<name>.dead` for poison messages.

Events and reports are routed with the user's shard appended (`trade.placed.3`).
Consumers whose order matters per user (the venue gateway, executions, notifications)
get one queue per shard (`<i>.notifier.3`), each with a single active consumer: every
worker consumes every shard, the broker makes one of them active per shard, so the
shards spread over the workers and one takes over when another dies; a user's events
stay in order because they all travel one shard. They retry a failed message in
place instead of re-queueing it behind later ones. The other consumers compete on one
queue with retry and back-off.

A cluster (README, "High availability"): the broker is given every node's URL
(TICKERDESK_AMQP_URL and TICKERDESK_AMQP_URLS); each new connection tries them in
turn, starting with the last one that answered, so the publisher and every consumer
move to a live node when theirs dies. Every durable queue is a quorum queue (Raft,
replicated on the nodes of the cluster when it is declared), so a message a publisher
had confirmed survives the loss of any minority of nodes. A retry queue that an older
release declared classic is kept as it is (its type cannot change in place).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aio_pika
import redis.exceptions
import structlog

from tickerdesk.adapters.postgres.db import UNREACHABLE as DATABASE_UNREACHABLE
from tickerdesk.codec import dumps, loads
from tickerdesk.domain.errors import DomainError

log = structlog.get_logger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None]]

# Errors that retrying can never fix: a broken domain rule, or an event this code
# cannot read. A consumer parks such a message in its dead-letter queue at once;
# anything else (a database or network outage) is retried.
PERMANENT: tuple[type[Exception], ...] = (DomainError,)


# Errors that say a server did not answer (a broker node or the database dying, failing
# over, timing out), not that the message is bad: they pass when the outage does, so
# they never count toward dead-lettering (a failover of a few seconds must not park a
# good order before it reaches the venue).
OUTAGES: tuple[type[BaseException], ...] = (
    OSError, TimeoutError, aio_pika.exceptions.AMQPError, aio_pika.exceptions.ChannelInvalidStateError,
    *DATABASE_UNREACHABLE, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
)


def outage(error: BaseException) -> bool:
    # An unroutable message (no queue bound) is the message's or the topology's fault.
    return isinstance(error, OUTAGES) and not isinstance(error, aio_pika.exceptions.PublishError)


@dataclass(frozen=True)
class ConsumerSpec:
    name: str
    bindings: tuple[str, ...]  # event types, or venue routing keys
    exchange: str = "events"  # or "venue"
    ordered: bool = False  # single active consumer, retries in place
    sharded: bool = False  # one queue per user shard (ordered per user, spread over workers)
    prefetch: int = 64
    max_attempts: int = 6  # an ordered consumer's retries in place: 0 means forever


def shard_of(user_id: str, shards: int) -> int:
    """A stable shard for a user, the same in every process (unlike `hash`)."""
    return int.from_bytes(hashlib.blake2b(user_id.encode(), digest_size=4).digest(), "big") % shards


USER_EVENTS = ("trade.placed", "trade.partiallyExecuted", "trade.executed", "trade.canceled",
               "trade.expired", "trade.rejected", "balance.updated", "portfolio.updated")

CONSUMERS: dict[str, ConsumerSpec] = {
    spec.name: spec
    for spec in (
        ConsumerSpec("venue-gateway", ("trade.placed", "trade.cancelRequested"), ordered=True, sharded=True),
        ConsumerSpec("executions", ("reports",), exchange="venue", ordered=True, sharded=True, max_attempts=0),
        ConsumerSpec("notifier", USER_EVENTS, ordered=True, sharded=True),
        ConsumerSpec("history", ("trade",)),
        ConsumerSpec("webhooks", USER_EVENTS),
        ConsumerSpec("notifications", USER_EVENTS),  # email, push and SMS deliveries (planned, not sent)
        ConsumerSpec("venue-sim", ("orders",), exchange="venue", ordered=True, max_attempts=0),
    )
}


CONNECT_TIMEOUT_SECONDS = 3.0  # per node, when there are others to try
# A publisher confirm that has not come in this long will not: the connection is dropped
# (the next publish reconnects) and the caller publishes again (consumers dedupe by id).
PUBLISH_TIMEOUT_SECONDS = 15.0


def cluster_urls(url: str, also: str = "") -> list[str]:
    """Every node's URL, once each, in the order given: `url` (which may itself be a
    comma-separated list) first."""
    urls = [u.strip() for u in f"{url},{also}".split(",") if u.strip()]
    return list(dict.fromkeys(urls))


def _shown(url: str) -> str:
    """A URL without its password, for the log."""
    head, _, tail = url.rpartition("@")
    return f"{head.split(':')[0]}:***@{tail}" if head else url


def backoff(attempt: int, base: float = 0.2, cap: float = 30.0) -> float:
    """Exponential back-off with jitter: 0.2 s, 0.4 s, 0.8 s ... up to `cap`."""
    return min(cap, base * 2 ** (attempt - 1)) * random.uniform(0.8, 1.2)


class Broker:
    """Connections are plain (not aio-pika's robust ones, whose consumers can hang after
    a broker restart): the publisher reconnects on its next use, and every consumer
    owns a connection and reconnects in a loop when it drops."""

    def __init__(self, url: str, instance: str, shards: int = 4, *, also: str = ""):
        self.urls = cluster_urls(url, also)
        self.url = self.urls[0]  # the one that answered last: new connections try it first
        self.instance = instance
        self.shards = shards
        self._connection: aio_pika.abc.AbstractConnection | None = None
        self._channel: aio_pika.abc.AbstractChannel | None = None
        self._exchanges: dict[str, aio_pika.abc.AbstractExchange] = {}
        self._lock = asyncio.Lock()

    @classmethod
    async def connect(cls, url: str, instance: str = "tickerdesk", shards: int = 4, also: str = "") -> Broker:
        broker = cls(url, instance, shards, also=also)
        await broker._publisher()
        return broker

    async def _connect(self) -> aio_pika.abc.AbstractConnection:
        """A connection to the first node that answers, the last good one first."""
        start = self.urls.index(self.url) if self.url in self.urls else 0
        order = self.urls[start:] + self.urls[:start]
        error: Exception | None = None
        for url in order:
            try:
                connection = await aio_pika.connect(url, timeout=CONNECT_TIMEOUT_SECONDS if len(order) > 1 else 10)
            except (TimeoutError, OSError, aio_pika.exceptions.AMQPError) as failed:
                error = failed
                continue
            if url != self.url:
                log.warning("broker: moved to another node", node=_shown(url))
                self.url = url
            return connection
        assert error is not None
        raise error

    def name(self, suffix: str) -> str:
        return f"{self.instance}.{suffix}"

    def queues(self, spec: ConsumerSpec) -> list[tuple[str, list[str]]]:
        """The queue names of a consumer, each with its routing keys."""
        if spec.sharded:
            return [(self.name(f"{spec.name}.{shard}"), [f"{key}.{shard}" for key in spec.bindings])
                    for shard in range(self.shards)]
        if spec.exchange == "events":  # every shard of these event types
            return [(self.name(spec.name), [f"{key}.#" for key in spec.bindings])]
        return [(self.name(spec.name), list(spec.bindings))]

    def all_queue_names(self) -> list[str]:
        return [f"{queue}{suffix}" for spec in CONSUMERS.values() for queue, _ in self.queues(spec)
                for suffix in ("", ".retry", ".dead")]

    @property
    def connected(self) -> bool:
        return self._connection is not None and not self._connection.is_closed

    async def ping(self) -> None:
        """For readiness: reconnects if it can, raises if the broker is unreachable."""
        await self._publisher()

    async def _publisher(self) -> aio_pika.abc.AbstractChannel:
        """The publishing channel (with confirms), reopened if the broker went away."""
        async with self._lock:
            if self._channel is None or self._channel.is_closed or not self.connected:
                if self._connection is not None and not self._connection.is_closed:
                    await self._connection.close()
                self._connection = await self._connect()
                self._channel = await self._connection.channel(publisher_confirms=True)
                await self.declare()
            return self._channel

    def _open_channel(self) -> aio_pika.abc.AbstractChannel:
        if self._channel is None:
            raise RuntimeError("the broker has no channel yet: declare() runs from _publisher()")
        return self._channel

    async def declare(self) -> None:
        """Declare the exchanges and every consumer's queues (idempotent)."""
        channel = self._open_channel()
        for key, kind in (("events", "topic"), ("venue", "direct"), ("prices", "fanout")):
            self._exchanges[key] = await channel.declare_exchange(
                self.name(key), getattr(aio_pika.ExchangeType, kind.upper()), durable=True
            )
        for spec in CONSUMERS.values():
            await self._declare_queues(spec)

    async def _declare_queues(self, spec: ConsumerSpec) -> None:
        channel = self._open_channel()
        arguments: dict[str, Any] = {"x-queue-type": "quorum"}
        if spec.ordered:
            arguments["x-single-active-consumer"] = True
        for main, keys in self.queues(spec):
            queue = await channel.declare_queue(main, durable=True, arguments=arguments)
            for key in keys:
                await queue.bind(self._exchanges[spec.exchange], routing_key=key)
            await self._declare_retry_queue(f"{main}.retry", main)
            await channel.declare_queue(f"{main}.dead", durable=True, arguments={"x-queue-type": "quorum"})

    async def _declare_retry_queue(self, name: str, main: str) -> None:
        """A quorum queue whose messages dead-letter back to `main` when their back-off
        (per-message expiration) runs out; one an older release declared classic stays."""
        arguments: dict[str, Any] = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": main}
        assert self._connection is not None
        probe = await self._connection.channel()
        try:
            await probe.declare_queue(name, durable=True, arguments={**arguments, "x-queue-type": "quorum"})
        except aio_pika.exceptions.ChannelPreconditionFailed:  # an existing classic one: keep it
            await self._open_channel().declare_queue(name, durable=True, arguments=arguments)
        finally:
            if not probe.is_closed:
                await probe.close()

    # -- publishing -------------------------------------------------------------
    def _message(self, body: Any, **properties: Any) -> aio_pika.Message:
        return aio_pika.Message(
            dumps(body).encode(), content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT, **properties,
        )

    async def publish_events(self, events: list[dict[str, Any]]) -> None:
        """Publish and wait until the broker confirms every one (it has them safely): a
        nack, a lost connection or no confirm in time raises, and the relay keeps the
        events in the outbox and publishes them again."""
        await self._publisher()
        exchange = self._exchanges["events"]
        await self._confirmed(*(
            exchange.publish(self._message(e, message_id=str(e["id"])),
                             routing_key=f"{e['type']}.{shard_of(e['userId'], self.shards)}",
                             timeout=PUBLISH_TIMEOUT_SECONDS)
            for e in events
        ))

    async def publish_report(self, report: dict[str, Any]) -> None:
        """An execution report, on its user's shard so that it stays behind the earlier ones."""
        await self.publish("venue", f"reports.{shard_of(report['account'], self.shards)}", report,
                           message_id=report["executionId"])

    async def publish(self, exchange: str, routing_key: str, body: Any, **properties: Any) -> None:
        await self._publisher()
        await self._confirmed(self._exchanges[exchange].publish(
            self._message(body, **properties), routing_key=routing_key, timeout=PUBLISH_TIMEOUT_SECONDS))

    async def publish_reply(self, reply_to: str, correlation_id: str, body: Any) -> None:
        message = aio_pika.Message(dumps(body).encode(), content_type="application/json",
                                   correlation_id=correlation_id)
        channel = await self._publisher()
        await self._confirmed(channel.default_exchange.publish(message, routing_key=reply_to,
                                                               timeout=PUBLISH_TIMEOUT_SECONDS))

    async def publish_price_ticks(self, prices: dict[str, Any]) -> None:
        message = aio_pika.Message(dumps(prices).encode(), content_type="application/json")
        await self._publisher()
        await self._confirmed(self._exchanges["prices"].publish(message, routing_key="",
                                                                timeout=PUBLISH_TIMEOUT_SECONDS))

    async def _confirmed(self, *publishes: Awaitable[Any]) -> None:
        """Await the confirms. One that never came means a connection that stopped
        answering without closing (a node gone silent): drop it, so that the next
        publish reconnects to a live node instead of waiting on it again."""
        try:
            await asyncio.gather(*publishes)
        except TimeoutError:
            connection = self._connection
            if connection is not None and not connection.is_closed:
                log.warning("broker: no publisher confirm in time; reconnecting", node=_shown(self.url))
                await connection.close()
            raise

    # -- consuming --------------------------------------------------------------
    async def consume(self, spec: ConsumerSpec, handle: Handler) -> None:
        """Consume `spec`'s queue with `handle` until cancelled. Acks only after
        `handle` returned, so a crash means redelivery, never loss. When the broker
        goes away, waits for it and consumes again (unacked messages are redelivered)."""
        await asyncio.gather(*(self._consume_queue(spec, queue, handle) for queue, _ in self.queues(spec)))

    async def _consume_queue(self, spec: ConsumerSpec, queue_name: str, handle: Handler) -> None:
        while True:
            try:
                await self._consume_once(spec, queue_name, handle)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("consumer lost the broker; reconnecting", queue=queue_name, error=repr(error))
            await asyncio.sleep(1.0)

    async def _consume_once(self, spec: ConsumerSpec, queue_name: str, handle: Handler) -> None:
        """Until the connection drops or the broker cancels the consumer (a quorum queue
        whose replica went away may send basic.cancel on a live connection); the caller
        then reconnects, to a live node, and the broker redelivers what was not acked."""
        async with await self._connect() as connection:
            channel = await connection.channel(publisher_confirms=True)
            await channel.set_qos(prefetch_count=spec.prefetch)
            queue = await channel.get_queue(queue_name, ensure=False)
            cancelled = asyncio.Event()

            def on_cancel(_frame: object) -> None:
                cancelled.set()

            (await channel.get_underlay_channel()).on_consumer_cancel_callbacks.add(on_cancel)
            consuming = asyncio.create_task(self._consume_messages(spec, queue_name, handle, channel, queue))
            watching = asyncio.create_task(cancelled.wait())
            try:
                await asyncio.wait((consuming, watching), return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (consuming, watching):
                    task.cancel()
                await asyncio.gather(consuming, watching, return_exceptions=True)
            if cancelled.is_set():
                log.warning("the broker cancelled the consumer; consuming again", queue=queue_name)
                return
            await consuming  # its error, if any, for the caller's log

    async def _consume_messages(self, spec: ConsumerSpec, queue_name: str, handle: Handler,
                                channel: aio_pika.abc.AbstractChannel, queue: aio_pika.abc.AbstractQueue) -> None:
        default = channel.default_exchange
        # One message at a time, in queue order; the prefetch keeps the pipe full.
        async with queue.iterator() as messages:
            async for message in messages:
                body = loads(message.body)
                if spec.ordered:
                    await self._handle_in_place(queue_name, spec, handle, body, message, channel)
                else:
                    await self._handle_with_retry(queue_name, spec, handle, body, message, default)

    async def _handle_in_place(self, queue_name, spec, handle, body, message, channel) -> None:
        """Retry `handle` until it succeeds. Only `handle`'s own errors are retried here:
        an ack that fails means the channel is gone, and the error goes to the caller,
        which reconnects (the broker redelivers the message). A failure that is an
        outage never counts toward dead-lettering."""
        attempt = failures = 0
        while True:
            attempt += 1
            try:
                await handle(body)
            except PERMANENT as error:  # can never succeed: park it for an operator
                await self._dead_letter(queue_name, body, message, channel.default_exchange, error)
                return
            except Exception as error:
                failures += not outage(error)
                if spec.max_attempts and failures >= spec.max_attempts:
                    await self._dead_letter(queue_name, body, message, channel.default_exchange, error)
                    return
                if channel.is_closed:  # redelivered by now, perhaps to another worker: reconnect
                    raise
                log.warning("consumer failed; retrying in place", consumer=spec.name, attempt=attempt,
                            error=repr(error))
                await asyncio.sleep(backoff(attempt, cap=5.0))
                continue
            await message.ack()
            return

    async def _handle_with_retry(self, queue_name, spec, handle, body, message, default) -> None:
        headers = message.headers or {}
        attempt = int(headers.get("x-attempt", 0)) + 1  # every attempt: the back-off
        failures = int(headers.get("x-failures", attempt - 1))  # those that were not outages
        try:
            await handle(body)
        except Exception as error:
            failures += not outage(error)
            if isinstance(error, PERMANENT) or failures >= spec.max_attempts:
                await self._dead_letter(queue_name, body, message, default, error)
            else:
                log.warning("consumer failed; retrying later", consumer=spec.name, attempt=attempt,
                            error=repr(error))
                retry = self._message(body, headers={"x-attempt": attempt, "x-failures": failures},
                                      expiration=backoff(attempt, cap=5.0), message_id=message.message_id)
                await default.publish(retry, routing_key=f"{queue_name}.retry", timeout=PUBLISH_TIMEOUT_SECONDS)
        await message.ack()

    async def _dead_letter(self, queue_name, body, message, default, error: Exception) -> None:
        log.error("message dead-lettered", queue=queue_name, error=repr(error))
        dead = self._message(body, headers={"x-error": repr(error)[:1000]}, message_id=message.message_id)
        await default.publish(dead, routing_key=f"{queue_name}.dead", timeout=PUBLISH_TIMEOUT_SECONDS)
        await message.ack()

    async def follow_prices(self, on_prices: Callable[[dict[str, Any]], None]) -> None:
        """Every replica gets every tick, on an exclusive queue of its own; until cancelled."""
        while True:
            try:
                async with await self._connect() as connection:
                    channel = await connection.channel()
                    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
                    await queue.bind(self.name("prices"))
                    async with queue.iterator(no_ack=True) as messages:
                        async for message in messages:
                            on_prices(loads(message.body))
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("price feed lost the broker; reconnecting", error=repr(error))
            await asyncio.sleep(1.0)

    async def call(self, exchange: str, routing_key: str, body: dict[str, Any], timeout: float) -> Any:
        """Request and reply: publish with a reply queue of its own, wait for the answer."""
        async with await self._connect() as connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(exclusive=True, auto_delete=True)
            correlation_id = uuid.uuid4().hex
            await self.publish(exchange, routing_key, {**body, "replyTo": queue.name, "correlationId": correlation_id})
            async with queue.iterator(no_ack=True) as replies:
                async with asyncio.timeout(timeout):
                    async for reply in replies:
                        if reply.correlation_id == correlation_id:
                            return loads(reply.body)

    async def close(self) -> None:
        if self._connection is not None and not self._connection.is_closed:  # self.connected
            await self._connection.close()
