"""The production processes other than the api: `tickerdesk relay` and `tickerdesk worker`.

Each runs until SIGTERM/SIGINT; every consumer acknowledges a message only after its
effect is committed, so killing a process at any moment loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import structlog

from tickerdesk.adapters.postgres.commands import Commands
from tickerdesk.adapters.postgres.db import create_pool, migrate, seed_instruments
from tickerdesk.adapters.postgres.history import HistoryStore
from tickerdesk.adapters.postgres.outbox import Inbox, OutboxRelay
from tickerdesk.adapters.postgres.webhooks import WebhookStore
from tickerdesk.adapters.redis.cache import redis_client
from tickerdesk.adapters.rabbitmq.broker import CONSUMERS, Broker
from tickerdesk.adapters.redis.hub import RedisHub
from tickerdesk.adapters.redis.cache import RedisReadCache
from tickerdesk.adapters.rabbitmq.broker.venue import BrokerVenue
from tickerdesk.adapters.venue_wire import report_from_wire
from tickerdesk.config import Settings
from tickerdesk.metrics import CONSUMER_LAG
from tickerdesk.app.consumers.executions import ExecutionApplier
from tickerdesk.app.consumers.history import HistoryProjector
from tickerdesk.app.consumers.notifier import Notifier
from tickerdesk.app.consumers.venue_gateway import VenueGateway
from tickerdesk.adapters.webhook_sender import WebhookDispatcher, WebhookSender

log = structlog.get_logger(__name__)

WORKERS = ("venue-gateway", "executions", "notifier", "history", "webhooks", "webhook-sender")


def serve_metrics(settings: Settings) -> None:
    """Processes without an HTTP API expose Prometheus metrics on their own port."""
    if settings.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.metrics_port)


async def until_stopped(*coroutines: Awaitable[Any]) -> None:
    """Run until a signal arrives or one of the loops ends (which is a failure)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    stopper = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
    for task in [*tasks, stopper]:
        task.cancel()
    await asyncio.gather(*tasks, stopper, return_exceptions=True)
    for task in done:
        if task is not stopper and task.exception():
            raise task.exception()


async def prepare_database(settings: Settings) -> None:
    """Migrations and seed data: run by the relay, the one process every stack has."""
    await migrate(settings.database_url)
    if settings.history_database_url:
        await migrate(settings.history_database_url)
    pool = await create_pool(settings.database_url, 1)
    await seed_instruments(pool)
    await pool.close()


async def run_relay(settings: Settings) -> None:
    """Outbox to RabbitMQ with publisher confirms, woken by LISTEN/NOTIFY."""
    pool = await create_pool(settings.database_url, 3)
    broker = await Broker.connect(settings.amqp_url, settings.instance, settings.consumer_shards)
    relay = OutboxRelay(pool, broker.publish_events, exclusive=True)
    serve_metrics(settings)
    listener = await pool.acquire()
    await listener.add_listener("tickerdesk_outbox", lambda *_: relay.wake())
    log.info("relay running")
    try:
        await until_stopped(relay.run())
    finally:
        with contextlib.suppress(Exception):
            await listener.remove_listener("tickerdesk_outbox", lambda *_: None)
        await pool.release(listener)
        await broker.close()
        await pool.close()


def _lag(name: str, handle: Callable[[list[dict[str, Any]]], Awaitable[None]]):
    async def consume(event: dict[str, Any]) -> None:
        await handle([event])
        occurred = event.get("occurredAt")
        if isinstance(occurred, str):
            at = datetime.fromisoformat(occurred.replace("Z", "+00:00"))
            CONSUMER_LAG.labels(name).observe((datetime.now(UTC) - at).total_seconds())
    return consume


async def run_workers(settings: Settings, only: list[str] | None = None) -> None:
    names = only or list(WORKERS)
    pool = await create_pool(settings.database_url, 10)
    history_pool = await create_pool(settings.history_database_url, 5) if settings.history_database_url else pool
    redis = redis_client(settings.redis_url)
    broker = await Broker.connect(settings.amqp_url, settings.instance, settings.consumer_shards)
    commands = Commands(pool)
    cache = RedisReadCache(redis, prefix=settings.instance, ttl_seconds=settings.cache_ttl_seconds)
    applier = ExecutionApplier(commands, cache)
    webhooks = WebhookStore(pool)

    async def apply_report(body: dict[str, Any]) -> None:
        await applier.on_report(report_from_wire(body))

    consumers: dict[str, Callable[[dict[str, Any]], Awaitable[None]]] = {
        "venue-gateway": _lag("venue-gateway", VenueGateway(BrokerVenue(broker)).handle),
        "executions": apply_report,
        "notifier": _lag("notifier", Notifier(Inbox(pool), RedisHub(redis, settings.instance), cache).handle),
        "history": _lag("history", HistoryProjector(HistoryStore(history_pool)).handle),
        "webhooks": _lag("webhooks", WebhookDispatcher(webhooks).handle),
    }
    loops = [broker.consume(CONSUMERS[name], consumers[name]) for name in names if name in consumers]
    if "webhook-sender" in names:
        loops.append(WebhookSender(webhooks, timeout_seconds=settings.webhook_timeout_seconds,
                                   max_attempts=settings.webhook_max_attempts).run())
    serve_metrics(settings)
    log.info("workers running", workers=names)
    try:
        await until_stopped(*loops)
    finally:
        await broker.close()
        await redis.aclose()
        await pool.close()
        if history_pool is not pool:
            await history_pool.close()
