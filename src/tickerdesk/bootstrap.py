"""Composition roots: what one tickerdesk process is made of.

`Runtime.open` builds `tickerdesk up` (and the tests): PostgreSQL for the truth, an
in-process event bus fed by the outbox relay, the simulated venue and its feed,
in-memory cache, rate limiter and notification hub. `Runtime.open_api` builds a
production api replica: the same routes over Redis, RabbitMQ and the venue-sim
process. The code paths are the same; only the adapters differ.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog

from tickerdesk.adapters.postgres.commands import Commands
from tickerdesk.adapters.postgres.db import create_pool, migrate, seed_instruments
from tickerdesk.adapters.postgres.history import HistoryStore
from tickerdesk.adapters.postgres.outbox import Inbox, OutboxRelay
from tickerdesk.adapters.postgres.reads import Reads
from tickerdesk.adapters.postgres.webhooks import WebhookStore
from tickerdesk.adapters.memory.price_book import MemoryPriceBook
from tickerdesk.adapters.redis.rate_limit import MemoryRateLimiter, RateLimit
from tickerdesk.adapters.redis.hub import MemoryHub
from tickerdesk.adapters.redis.cache import MemoryReadCache
from tickerdesk.adapters.venue.sim import SimVenue
from tickerdesk.app.ports import SimulatorControl
from tickerdesk.config import Settings
from tickerdesk.domain.instruments import Instrument
from tickerdesk.app.consumers.executions import ExecutionApplier
from tickerdesk.app.consumers.history import HistoryProjector
from tickerdesk.app.consumers.notifier import Notifier
from tickerdesk.app.consumers.venue_gateway import VenueGateway, venue_order_from_order
from tickerdesk.adapters.webhook_sender import WebhookDispatcher, WebhookSender

log = structlog.get_logger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    settings: Settings
    pool: asyncpg.Pool
    commands: Commands
    reads: Reads
    history: HistoryStore
    instruments: dict[str, Instrument]
    prices: MemoryPriceBook
    sim: SimulatorControl
    cache: Any
    limiter: Any
    hub: Any
    webhooks: WebhookStore
    limits: dict[str, RateLimit]
    relay: OutboxRelay | None = None
    venue: SimVenue | None = None
    webhook_sender: WebhookSender | None = None
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    closers: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)
    checks: dict[str, Callable[[], Awaitable[Any]]] = field(default_factory=dict)

    @staticmethod
    def rate_limits(settings: Settings) -> dict[str, RateLimit]:
        return {group: RateLimit.parse(getattr(settings, f"rate_limit_{group}"))
                for group in ("place", "cancel", "read", "admin")}

    @classmethod
    async def open(cls, settings: Settings, database_url: str) -> Runtime:
        """One process, in-process adapters: `tickerdesk up` and the tests."""
        await migrate(database_url)
        pool = await create_pool(database_url, settings.database_pool_size)
        await seed_instruments(pool)
        reads = Reads(pool)
        instruments, last_prices = await reads.instruments()
        prices = MemoryPriceBook(last_prices)
        wake: list[Callable[[], None]] = []
        commands = Commands(pool, on_commit=lambda: wake[0]())
        cache, hub, history = MemoryReadCache(ttl_seconds=settings.cache_ttl_seconds), MemoryHub(), HistoryStore(pool)
        webhooks = WebhookStore(pool)
        venue = SimVenue(prices, ExecutionApplier(commands, cache).on_report,
                         on_prices=lambda changes: _spawn(reads.save_prices(changes)))
        consumers = [Notifier(Inbox(pool), hub, cache), HistoryProjector(history), WebhookDispatcher(webhooks),
                     VenueGateway(venue)]

        async def publish(events: list[dict[str, Any]]) -> None:
            for consumer in consumers:
                await consumer.handle(events)

        relay = OutboxRelay(pool, publish)
        wake.append(relay.wake)
        runtime = cls(settings, pool, commands, reads, history, instruments, prices, venue, cache,
                      MemoryRateLimiter(), hub, webhooks, cls.rate_limits(settings), relay=relay, venue=venue,
                      webhook_sender=WebhookSender(webhooks, timeout_seconds=settings.webhook_timeout_seconds,
                                                   max_attempts=settings.webhook_max_attempts))
        runtime.closers.append(pool.close)
        runtime.checks["database"] = lambda: pool.fetchval("SELECT 1")
        return runtime

    @classmethod
    async def open_api(cls, settings: Settings) -> Runtime:
        """A production api replica: PostgreSQL, Redis, RabbitMQ; no venue or relay inside."""
        from tickerdesk.adapters.rabbitmq.broker import Broker
        from tickerdesk.adapters.redis.cache import redis_client
        from tickerdesk.adapters.redis.rate_limit import RedisRateLimiter
        from tickerdesk.adapters.redis.hub import RedisHub
        from tickerdesk.adapters.redis.cache import RedisReadCache
        from tickerdesk.adapters.rabbitmq.broker.venue import BrokerSimControl

        pool = await create_pool(settings.database_url, settings.database_pool_size)
        history_pool = (await create_pool(settings.history_database_url, 5)
                        if settings.history_database_url else pool)
        reads = Reads(pool)
        instruments, last_prices = await reads.instruments()
        prices = MemoryPriceBook(last_prices)
        redis = redis_client(settings.redis_url)
        broker = await Broker.connect(settings.amqp_url, settings.instance, settings.consumer_shards)
        runtime = cls(
            settings, pool, Commands(pool), reads, HistoryStore(history_pool), instruments, prices,
            BrokerSimControl(broker), RedisReadCache(redis, prefix=settings.instance, ttl_seconds=settings.cache_ttl_seconds),
            RedisRateLimiter(redis, prefix=settings.instance), RedisHub(redis, settings.instance),
            WebhookStore(pool), cls.rate_limits(settings),
        )
        runtime.tasks.append(asyncio.create_task(
            broker.follow_prices(lambda ticks: [prices.set(s, p) for s, p in ticks.items()]), name="prices"))
        runtime.closers += [runtime.hub.close, broker.close, redis.aclose, pool.close]
        if history_pool is not pool:
            runtime.closers.append(history_pool.close)
        runtime.checks.update(
            database=lambda: pool.fetchval("SELECT 1"),
            redis=redis.ping,
            broker=broker.ping,
        )
        return runtime

    async def start(self) -> None:
        """In-process only: tell the (memoryless) simulated venue about open orders,
        then run the relay, the webhook sender and the price walk."""
        if self.relay is None:
            return
        await self.relay.drain()
        for order in await self.reads.open_orders():
            await self.venue.submit(venue_order_from_order(order))
            if order.cancel_requested:
                await self.venue.cancel(order.trade_id, order.user_id, order.symbol)
        self.tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay"))
        self.tasks.append(asyncio.create_task(self.webhook_sender.run(), name="webhook-sender"))
        if self.settings.price_walk_seconds > 0:
            self.tasks.append(asyncio.create_task(
                self.venue.run_walk(self.settings.price_walk_seconds, self.settings.price_walk_volatility),
                name="price-walk"))

    async def settle(self) -> None:
        """In-process only: relay until nothing is left, so every committed event has had its effects."""
        for _ in range(1000):
            await self.relay.drain()
            if not await self.pool.fetchval("SELECT EXISTS (SELECT 1 FROM outbox)"):
                return
        raise RuntimeError("the outbox did not drain")

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for close in self.closers:
            with contextlib.suppress(Exception):
                await close()


_background: set[asyncio.Task[Any]] = set()


def _spawn(coroutine: Awaitable[Any]) -> None:
    """Fire and forget, keeping a reference so the task is not collected mid-flight."""
    task = asyncio.ensure_future(coroutine)
    _background.add(task)
    task.add_done_callback(_background.discard)

