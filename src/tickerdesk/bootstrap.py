"""The composition root: the only module that names concrete adapters.

Every process is put together here, from one typed `Settings`:

- `open_up`: `tickerdesk up` and the tests. PostgreSQL for the truth; an in-process
  event bus fed by the outbox relay; the simulated venue and price feed; in-memory
  cache, rate limiter and notification hub.
- `open_up_core`, `open_up_worker`: `tickerdesk up --workers N`, the same on every
  core of one machine: one core process (the venue, relay and consumers) and N HTTP
  workers sharing prices, token buckets and cache generations in shared memory, and
  notifications over PostgreSQL LISTEN/NOTIFY.
- `open_api`: a production api replica. The same routes and use cases over
  PostgreSQL, Redis and RabbitMQ, with the venue-sim as a process of its own.
- `run_relay`, `run_workers`, `run_venue_sim`: the other production processes.

The code paths are the same everywhere; only the adapters differ.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import structlog
from fastapi import FastAPI

from tickerdesk.adapters.dynamodb.client import DynamoClient
from tickerdesk.adapters.dynamodb.history import DynamoHistory
from tickerdesk.adapters.embedded_pg import EmbeddedPostgres
from tickerdesk.adapters.memory.bus import InProcessBus
from tickerdesk.adapters.memory.cache import MemoryReadCache
from tickerdesk.adapters.memory.clock import SystemClock
from tickerdesk.adapters.memory.hub import MemoryHub
from tickerdesk.adapters.memory.price_book import MemoryPriceBook
from tickerdesk.adapters.memory.rate_limit import MemoryRateLimiter
from tickerdesk.adapters.notify.log_channels import LogEmail, LogSms
from tickerdesk.adapters.notify.sms import TwilioSms
from tickerdesk.adapters.notify.smtp_email import SmtpEmail
from tickerdesk.adapters.notify.web_push import WebPush
from tickerdesk.adapters.postgres.commands import PgCommandStore
from tickerdesk.adapters.postgres.db import asyncpg_dsn, create_pool, migrate, seed_instruments
from tickerdesk.adapters.postgres.history import PgHistory, count_trades, trades_in_batches
from tickerdesk.adapters.postgres.hub import PgHub
from tickerdesk.adapters.postgres.inbox import PgInbox
from tickerdesk.adapters.postgres.listen import PgListener
from tickerdesk.adapters.postgres.notification_deliveries import PgNotificationDeliveries
from tickerdesk.adapters.postgres.notification_settings import PgNotificationSettings
from tickerdesk.adapters.postgres.outbox import OutboxRelay
from tickerdesk.adapters.postgres.reads import PgQueries
from tickerdesk.adapters.postgres.sim_control import PgSimCommands, PgSimControl
from tickerdesk.adapters.postgres.verify import Violation, history_drift, verify
from tickerdesk.adapters.postgres.webhooks import PgWebhooks
from tickerdesk.adapters.rabbitmq.broker import CONSUMERS, Broker
from tickerdesk.adapters.rabbitmq.venue import BrokerSimControl, BrokerVenue
from tickerdesk.adapters.redis.cache import RedisReadCache
from tickerdesk.adapters.redis.client import redis_client
from tickerdesk.adapters.redis.hub import RedisHub
from tickerdesk.adapters.redis.rate_limit import RedisRateLimiter
from tickerdesk.adapters.redis.sim_book import RedisSimState
from tickerdesk.adapters.shared_memory.cache import SharedReadCache
from tickerdesk.adapters.shared_memory.listeners import SharedListeners
from tickerdesk.adapters.shared_memory.price_book import SharedPriceBook
from tickerdesk.adapters.shared_memory.rate_limit import SharedRateLimiter
from tickerdesk.adapters.shared_memory.tables import SharedTables, SharedTablesHandle
from tickerdesk.adapters.venue.sim import SimVenue
from tickerdesk.adapters.venue.sim_service import SimVenueService
from tickerdesk.adapters.webhook_sender import WebhookSender
from tickerdesk.app.consumers.executions import ExecutionApplier
from tickerdesk.app.consumers.history import HistoryProjector
from tickerdesk.app.consumers.notifications import NotificationPlanner
from tickerdesk.app.consumers.notifier import Notifier
from tickerdesk.app.consumers.venue_gateway import VenueGateway, venue_order_for
from tickerdesk.app.consumers.webhooks import WebhookDispatcher
from tickerdesk.app.notification_sender import NotificationSender
from tickerdesk.app.ports import Clock, EmailChannel, EventConsumer, History, NotificationHub, ReadCache, SmsChannel
from tickerdesk.app.post_commit import PostCommit
from tickerdesk.app.rate_limits import RateLimit
from tickerdesk.app.services import NotificationServices, Services
from tickerdesk.codec import decode_event, report_from_wire
from tickerdesk.config import Settings, SetupError, not_set_up, with_jwt_secret, with_notification_keys
from tickerdesk.domain.events import Event
from tickerdesk.entrypoints.http.app import create_app
from tickerdesk.entrypoints.processes import serve_metrics, until_stopped
from tickerdesk.logs import configure
from tickerdesk.metrics import CONSUMER_LAG, observe_committed

log = structlog.get_logger(__name__)


def rate_limits(settings: Settings) -> dict[str, RateLimit]:
    return {group: RateLimit.parse(getattr(settings, f"rate_limit_{group}"))
            for group in ("place", "cancel", "read", "admin", "public", "auth_failures")}


@dataclass(kw_only=True)
class Runtime:
    """One process: its services, and what it runs and must close. The relay, the
    venue and the webhook sender are set only in the one-process `up`."""

    settings: Settings
    services: Services
    pool: asyncpg.Pool
    relay: OutboxRelay | None = None
    venue: SimVenue | None = None
    webhook_sender: WebhookSender | None = None
    notification_sender: NotificationSender | None = None
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    closers: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)

    async def start(self) -> None:
        """In-process only: tell the (memoryless) simulated venue about open orders,
        then run the relay, the webhook sender and the price walk."""
        if self.relay is None or self.venue is None or self.webhook_sender is None:
            return
        await self.relay.drain()
        for order in await self.services.queries.open_orders():
            await self.venue.submit(venue_order_for(order))
            if order.cancel_requested:
                await self.venue.cancel(order.trade_id, order.user_id, order.symbol)
        self.tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay"))
        self.tasks.append(asyncio.create_task(self.webhook_sender.run(), name="webhook-sender"))
        if self.notification_sender is not None:
            self.tasks.append(asyncio.create_task(self.notification_sender.run(), name="notification-sender"))
        if self.settings.price_walk_seconds > 0:
            self.tasks.append(asyncio.create_task(
                self.venue.run_walk(self.settings.price_walk_seconds, self.settings.price_walk_volatility),
                name="price-walk"))

    async def settle(self) -> None:
        """In-process only: relay until nothing is left, so every committed event has had its effects."""
        assert self.relay is not None, "only the one-process runtime relays"
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


# -- notifications by email, Web Push and SMS ----------------------------------------------


@dataclass(kw_only=True)
class Notifications:
    """A process's notification parts: what its routes use, the planner (a consumer),
    the sender (run by `up` and the notification-sender worker), and what to close."""

    services: NotificationServices
    planner: NotificationPlanner
    sender: NotificationSender
    closers: list[Callable[[], Awaitable[Any]]]


def open_notifications(settings: Settings, pool: asyncpg.Pool, clock: Clock) -> Notifications:
    """The channels the settings name (log twins of email and SMS when none is set up).
    A process given no notification secret or VAPID key makes its own (the tests): every
    command that serves people passes `with_notification_keys` first."""
    settings = with_notification_keys(settings, keep=False)
    assert settings.notification_secret and settings.vapid_private_key
    store, deliveries = PgNotificationSettings(pool), PgNotificationDeliveries(pool)
    timeout = settings.notification_timeout_seconds
    email: EmailChannel = LogEmail()
    if settings.smtp_host:
        email = SmtpEmail(settings.smtp_host, settings.smtp_port, sender=settings.smtp_from,
                          security=settings.smtp_security, username=settings.smtp_username,
                          password=settings.smtp_password, timeout_seconds=timeout)
    closers: list[Callable[[], Awaitable[Any]]] = []
    sms: SmsChannel = LogSms()
    if settings.sms_provider == "twilio":
        if not (settings.sms_account_sid and settings.sms_auth_token and settings.sms_from):
            raise SetupError("TICKERDESK_SMS_PROVIDER=twilio needs TICKERDESK_SMS_ACCOUNT_SID, "
                             "TICKERDESK_SMS_AUTH_TOKEN and TICKERDESK_SMS_FROM")
        twilio = TwilioSms(settings.sms_base_url, settings.sms_account_sid, settings.sms_auth_token,
                           settings.sms_from, timeout_seconds=timeout)
        sms = twilio
        closers.append(twilio.close)
    push = WebPush(settings.vapid_private_key, settings.vapid_subject, timeout_seconds=timeout,
                   allowed_hosts=settings.push_allowed_hosts)
    closers.append(push.close)
    sender = NotificationSender(deliveries, store, email=email, push=push, sms=sms, clock=clock,
                                secret=settings.notification_secret, public_url=settings.public_url,
                                max_attempts=settings.notification_max_attempts, timeout_seconds=timeout)
    planner = NotificationPlanner(store, deliveries, clock, group_seconds=settings.notification_group_seconds,
                                  on_enqueued=sender.wake)
    services = NotificationServices(settings=store, deliveries=deliveries, email=email, sms=sms,
                                    push_public_key=push.public_key, secret=settings.notification_secret)
    return Notifications(services=services, planner=planner, sender=sender, closers=closers)


# -- the transaction-history store ------------------------------------------------------------


async def open_history(settings: Settings, pool: asyncpg.Pool) -> tuple[History, Callable[[], Awaitable[Any]]]:
    """The configured history store (docs/history-store.md), and how to close it: the table
    in `pool`'s database, or a DynamoDB-API table, created if missing and awaited until ACTIVE."""
    if settings.history_store == "postgres":
        async def nothing() -> None:
            return None

        return PgHistory(pool), nothing
    where = settings.history_dynamodb_endpoint or f"AWS {settings.history_dynamodb_region}"
    dynamo = await DynamoClient.open(endpoint=settings.history_dynamodb_endpoint,
                                     region=settings.history_dynamodb_region)
    history = DynamoHistory(dynamo, settings.history_dynamodb_table_prefix + "history")
    try:
        await history.ensure_table()
    except Exception as error:
        await dynamo.close()
        raise SetupError(f"cannot use the DynamoDB history store at {where} ({error or type(error).__name__}): "
                         "is it running (scripts/dynalite.sh start), and are TICKERDESK_HISTORY_DYNAMODB_* "
                         "right?") from None
    return history, dynamo.close


# -- tickerdesk up ---------------------------------------------------------------------


async def open_up(settings: Settings, database_url: str, tables: SharedTables | None = None) -> Runtime:
    """One process, in-process adapters: `tickerdesk up` and the tests. With `tables`, the
    core of `up --workers N` (see `open_up_core`): prices and cache generations in shared
    memory, notifications to the workers over PostgreSQL."""
    await migrate(database_url)
    pool = await create_pool(database_url, settings.database_pool_size)
    await seed_instruments(pool)
    queries = PgQueries(pool, bar_retention_days=settings.price_bar_retention_days)
    instruments, last_prices = await queries.instruments()
    prices = MemoryPriceBook(last_prices) if tables is None else SharedPriceBook(tables.prices, last_prices)
    clock = SystemClock()
    cache: ReadCache = (MemoryReadCache(ttl_seconds=settings.cache_ttl_seconds) if tables is None
                        else SharedReadCache(tables.generations, ttl_seconds=settings.cache_ttl_seconds))
    post_commit = PostCommit(cache=cache, observe=observe_committed)
    commands = PgCommandStore(pool, post_commit, group_commit=True,
                              batches_in_flight=settings.placement_batches_in_flight)
    inbox, webhooks = PgInbox(pool), PgWebhooks(pool)
    history, close_history = await open_history(settings, pool)
    hub: NotificationHub = (MemoryHub() if tables is None
                            else PgHub(pool, inbox, listeners=SharedListeners(tables.listeners)))
    venue = SimVenue(prices, ExecutionApplier(commands, clock).on_report,
                     on_prices=lambda changes: _spawn(queries.save_prices(changes, clock.now())))
    sender = WebhookSender(webhooks, timeout_seconds=settings.webhook_timeout_seconds,
                           max_attempts=settings.webhook_max_attempts, allowed_hosts=settings.webhook_allowed_hosts)
    notifications = open_notifications(settings, pool, clock)
    bus = InProcessBus([Notifier(inbox, hub).handle, HistoryProjector(history).handle,
                        WebhookDispatcher(webhooks, on_enqueued=sender.wake).handle, VenueGateway(venue).handle,
                        notifications.planner.handle])
    relay = OutboxRelay(pool, bus.publish)
    post_commit.wake_relay = relay.wake
    services = Services(
        commands=commands, queries=queries, history=history, inbox=inbox, webhooks=webhooks,
        instruments=instruments, prices=prices, sim=venue, cache=cache, limiter=MemoryRateLimiter(),
        limits=rate_limits(settings), hub=hub, clock=clock, notifications=notifications.services,
        checks={"database": lambda: pool.fetchval("SELECT 1")},
    )
    runtime = Runtime(settings=settings, services=services, pool=pool, relay=relay, venue=venue,
                      webhook_sender=sender, notification_sender=notifications.sender)
    runtime.closers += [*notifications.closers, close_history, pool.close]
    if tables is not None:
        await _serve_workers(runtime, database_url, relay, venue)
    return runtime


def up_app(settings: Settings, data_dir: Path) -> FastAPI:
    """The `tickerdesk up` application, with an embedded PostgreSQL unless one is configured."""
    embedded = None
    if settings.database_url:
        url = settings.database_url
    else:
        embedded = EmbeddedPostgres(data_dir)
        url = embedded.url
    return create_app(settings, open_process=lambda: open_up(settings, url),
                      on_shutdown=embedded.stop if embedded else None)


# -- tickerdesk up --workers N ---------------------------------------------------------------


@dataclass(frozen=True)
class WorkerPlan:
    """What each HTTP worker of `up --workers N` is given as it is spawned."""

    settings: Settings
    database_url: str
    tables: SharedTablesHandle


def up_database(settings: Settings, data_dir: Path) -> tuple[str, Callable[[], None] | None]:
    """The configured database, else an embedded one started in `data_dir`: its URL, and
    how to stop it (last, once every process using it has stopped)."""
    if settings.database_url:
        return settings.database_url, None
    embedded = EmbeddedPostgres(data_dir)
    return embedded.url, embedded.stop


async def _pool_share(url: str, wanted: int, processes: int) -> int:
    """Connections per process: half the configured pool (a worker's placements share
    their statements by group commit; the core's consumers run one batch at a time), and
    no more than lets `processes` pools, their listening connections and a few operator
    commands fit in the server's max_connections."""
    conn = await _connect(url)
    try:
        available = (int(await conn.fetchval("SHOW max_connections"))
                     - int(await conn.fetchval("SHOW superuser_reserved_connections")))
    finally:
        await conn.close()
    return max(2, min(max(4, wanted // 2), (available - 10 - processes) // processes))


async def open_up_core(settings: Settings, database_url: str, workers: int) -> tuple[Runtime, WorkerPlan]:
    """The core of `up --workers N`: the one simulated venue, price walk, outbox relay and
    set of consumers, serving no HTTP itself. It makes the shared-memory tables (prices,
    rate limits, cache generations) the workers attach, and removes them at its close."""
    pool_size = await _pool_share(database_url, settings.database_pool_size, workers + 1)
    settings = settings.model_copy(update={"database_pool_size": pool_size})
    tables = SharedTables.create()
    try:
        runtime = await open_up(settings, database_url, tables)
    except BaseException:
        tables.close()
        raise

    async def remove_tables() -> None:
        tables.close()

    runtime.closers.append(remove_tables)
    return runtime, WorkerPlan(settings=settings, database_url=database_url, tables=tables.handle)


async def _serve_workers(runtime: Runtime, database_url: str, relay: OutboxRelay, venue: SimVenue) -> None:
    """What the core hears from the workers: the outbox trigger's NOTIFY at each of their
    commits wakes the relay, and their simulator commands reach the venue."""
    listener = await PgListener.connect(database_url)
    await listener.listen("tickerdesk_outbox", lambda _: relay.wake())
    commands = PgSimCommands(runtime.pool, venue, before=relay.flush)
    await commands.listen(listener)
    runtime.tasks.append(asyncio.create_task(commands.run(), name="sim-commands"))
    runtime.closers.insert(0, listener.close)


async def open_up_worker(plan: WorkerPlan) -> Runtime:
    """An HTTP worker of `up --workers N`: the routes and use cases over the one database,
    with the core's prices, the token buckets and the cache generations in shared memory,
    notifications and simulator commands over PostgreSQL; no venue, relay or consumer."""
    settings = plan.settings
    pool = await create_pool(plan.database_url, settings.database_pool_size)
    tables = plan.tables.attach()
    listener = await PgListener.connect(plan.database_url)
    queries = PgQueries(pool, bar_retention_days=settings.price_bar_retention_days)
    instruments, _ = await queries.instruments()
    cache = SharedReadCache(tables.generations, ttl_seconds=settings.cache_ttl_seconds)
    inbox = PgInbox(pool)
    hub = PgHub(pool, inbox, listener, listeners=SharedListeners(tables.listeners))
    history, close_history = await open_history(settings, pool)
    services = Services(
        commands=PgCommandStore(pool, PostCommit(cache=cache, observe=observe_committed), group_commit=True,
                                batches_in_flight=settings.placement_batches_in_flight),
        queries=queries, history=history, inbox=inbox, webhooks=PgWebhooks(pool),
        instruments=instruments, prices=SharedPriceBook(tables.prices), sim=PgSimControl(pool, listener),
        cache=cache, limiter=SharedRateLimiter(tables.limits), limits=rate_limits(settings), hub=hub,
        clock=SystemClock(), checks={"database": lambda: pool.fetchval("SELECT 1")},
    )
    notifications = open_notifications(settings, pool, services.clock)  # a worker sends verification codes
    services.notifications = notifications.services
    runtime = Runtime(settings=settings, services=services, pool=pool)

    async def detach_tables() -> None:
        tables.close()

    runtime.closers += [hub.close, listener.close, *notifications.closers, close_history, pool.close, detach_tables]
    return runtime


def up_worker_app(plan: WorkerPlan) -> FastAPI:
    """The application each worker process of `up --workers N` serves."""
    return create_app(plan.settings, open_process=lambda: open_up_worker(plan))


# -- production: the api replica ---------------------------------------------------------


async def open_api(settings: Settings) -> Runtime:
    """A production api replica: PostgreSQL, Redis, RabbitMQ; no venue or relay inside."""
    assert settings.database_url and settings.redis_url and settings.amqp_url
    pool = await create_pool(settings.database_url, settings.database_pool_size)
    history_pool = (await create_pool(settings.history_database_url, 5)
                    if settings.history_database_url else pool)
    history, close_history = await open_history(settings, history_pool)
    queries = PgQueries(pool)
    instruments, last_prices = await queries.instruments()
    prices = MemoryPriceBook(last_prices)
    redis = redis_client(settings.redis_url, sentinels=settings.redis_sentinels, master=settings.redis_master_name)
    broker = await Broker.connect(settings.amqp_url, settings.instance, settings.consumer_shards, settings.amqp_urls)
    cache = RedisReadCache(redis, prefix=settings.instance, ttl_seconds=settings.cache_ttl_seconds)
    hub = RedisHub(redis, settings.instance)
    services = Services(
        commands=PgCommandStore(pool, PostCommit(cache=cache, observe=observe_committed), group_commit=True,
                                batches_in_flight=settings.placement_batches_in_flight),
        queries=queries, history=history, inbox=PgInbox(pool), webhooks=PgWebhooks(pool),
        instruments=instruments, prices=prices, sim=BrokerSimControl(broker), cache=cache,
        limiter=RedisRateLimiter(redis, prefix=settings.instance), limits=rate_limits(settings), hub=hub,
        clock=SystemClock(),
        checks={"database": lambda: pool.fetchval("SELECT 1"), "redis": redis.ping, "broker": broker.ping},
    )
    notifications = open_notifications(settings, pool, services.clock)  # the api sends verification codes
    services.notifications = notifications.services
    runtime = Runtime(settings=settings, services=services, pool=pool)
    runtime.closers += notifications.closers

    def follow(ticks: dict[str, Any]) -> None:
        for symbol, price in ticks.items():
            prices.set(symbol, price)

    runtime.tasks.append(asyncio.create_task(broker.follow_prices(follow), name="prices"))
    runtime.closers += [hub.close, broker.close, redis.aclose, pool.close]
    runtime.closers.append(close_history)
    if history_pool is not pool:
        runtime.closers.append(history_pool.close)
    return runtime


def api_app() -> FastAPI:
    """The uvicorn factory of `tickerdesk api`: built in each worker process."""
    settings = with_notification_keys(with_jwt_secret(Settings()))
    configure(settings.log_level, settings.log_json)
    return create_app(settings, open_process=lambda: open_api(settings))


# -- production: relay, workers, venue-sim -------------------------------------------------


async def prepare_database(settings: Settings) -> None:
    """Migrations and seed data: run by the relay, the one process every stack has."""
    assert settings.database_url
    await migrate(settings.database_url)
    if settings.history_database_url:
        await migrate(settings.history_database_url)
    pool = await create_pool(settings.database_url, 1)
    await seed_instruments(pool)
    await pool.close()


async def run_relay(settings: Settings) -> None:
    """Outbox to RabbitMQ with publisher confirms, woken by LISTEN/NOTIFY."""
    assert settings.database_url and settings.amqp_url
    await prepare_database(settings)
    pool = await create_pool(settings.database_url, 3)
    broker = await Broker.connect(settings.amqp_url, settings.instance, settings.consumer_shards, settings.amqp_urls)
    relay = OutboxRelay(pool, broker.publish_events, exclusive=True)
    serve_metrics(settings)
    # A listener that reconnects (to the new primary after a failover) and wakes the relay
    # when it is back; a pool connection would stay dead, and every event wait for the
    # relay's idle poll from then on.
    listener = await PgListener.connect(settings.database_url)
    await listener.listen("tickerdesk_outbox", lambda _payload: relay.wake())
    listener.on_gap.append(relay.wake)
    log.info("relay running")
    try:
        await until_stopped(relay.run())
    finally:
        await listener.close()
        await broker.close()
        await pool.close()


def _from_the_bus(name: str, consume: EventConsumer) -> Callable[[dict[str, Any]], Awaitable[None]]:
    """A broker handler: the envelope decoded to its typed event, and the consumer's lag measured."""

    async def handle(envelope: dict[str, Any]) -> None:
        event: Event = decode_event(envelope)
        await consume([event])
        CONSUMER_LAG.labels(name).observe((datetime.now(UTC) - event.occurred_at).total_seconds())

    return handle


async def run_workers(settings: Settings, only: Sequence[str] | None = None) -> None:
    from tickerdesk.entrypoints.processes import WORKERS

    assert settings.database_url and settings.redis_url and settings.amqp_url
    names = list(only or WORKERS)
    pool = await create_pool(settings.database_url, 10)
    history_pool = await create_pool(settings.history_database_url, 5) if settings.history_database_url else pool
    history, close_history = await open_history(settings, history_pool)
    redis = redis_client(settings.redis_url, sentinels=settings.redis_sentinels, master=settings.redis_master_name)
    broker = await Broker.connect(settings.amqp_url, settings.instance, settings.consumer_shards, settings.amqp_urls)
    cache: ReadCache = RedisReadCache(redis, prefix=settings.instance, ttl_seconds=settings.cache_ttl_seconds)
    commands = PgCommandStore(pool, PostCommit(cache=cache, observe=observe_committed))
    applier = ExecutionApplier(commands, SystemClock())
    webhooks = PgWebhooks(pool)
    notifications = open_notifications(with_notification_keys(settings), pool, SystemClock())

    async def apply_report(body: dict[str, Any]) -> None:
        await applier.on_report(report_from_wire(body))

    consumers: dict[str, Callable[[dict[str, Any]], Awaitable[None]]] = {
        "venue-gateway": _from_the_bus("venue-gateway", VenueGateway(BrokerVenue(broker)).handle),
        "executions": apply_report,
        "notifier": _from_the_bus("notifier", Notifier(PgInbox(pool), RedisHub(redis, settings.instance)).handle),
        "history": _from_the_bus("history", HistoryProjector(history).handle),
        "webhooks": _from_the_bus("webhooks", WebhookDispatcher(webhooks).handle),
        "notifications": _from_the_bus("notifications", notifications.planner.handle),
    }
    loops = [broker.consume(CONSUMERS[name], consumers[name]) for name in names if name in consumers]
    if "webhook-sender" in names:
        loops.append(WebhookSender(webhooks, timeout_seconds=settings.webhook_timeout_seconds,
                                   max_attempts=settings.webhook_max_attempts,
                                   allowed_hosts=settings.webhook_allowed_hosts).run())
    if "notification-sender" in names:
        loops.append(notifications.sender.run())
    serve_metrics(settings)
    log.info("workers running", workers=names)
    try:
        await until_stopped(*loops)
    finally:
        for close in notifications.closers:
            await close()
        await broker.close()
        await redis.aclose()
        await pool.close()
        await close_history()
        if history_pool is not pool:
            await history_pool.close()


async def run_venue_sim(settings: Settings) -> None:
    """The simulated venue and price feed as a process of its own, its book in Redis."""
    assert settings.database_url and settings.redis_url and settings.amqp_url
    broker = await Broker.connect(settings.amqp_url, settings.instance, settings.consumer_shards, settings.amqp_urls)
    pool = await create_pool(settings.database_url, 2)
    redis = redis_client(settings.redis_url, sentinels=settings.redis_sentinels, master=settings.redis_master_name)
    queries = PgQueries(pool, bar_retention_days=settings.price_bar_retention_days)
    _, last_prices = await queries.instruments()
    service = SimVenueService(broker, RedisSimState(redis, settings.instance), queries, MemoryPriceBook(last_prices))
    serve_metrics(settings)
    try:
        await until_stopped(service.run(settings.price_walk_seconds, settings.price_walk_volatility))
    finally:
        await broker.close()
        await pool.close()
        await redis.aclose()


# -- operator commands ----------------------------------------------------------------------


def database_url(settings: Settings) -> str:
    """The configured database, else the embedded one `up` made in the data directory.
    Only `up` makes one: another command would make an empty database and report on it."""
    if settings.database_url:
        return settings.database_url
    if not EmbeddedPostgres.exists(settings.data_dir):
        raise not_set_up(settings, "database", "TICKERDESK_DATABASE_URL")
    return EmbeddedPostgres(settings.data_dir).url


def _shown(url: str) -> str:
    """The URL as a message may show it: without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}@{parts.netloc.rsplit('@', 1)[1]}"))


async def _connect(url: str) -> asyncpg.Connection:
    """A connection, or a SetupError naming the server that could not be used and why."""
    try:
        return await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    except (OSError, ValueError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        raise SetupError(f"cannot use the database at {_shown(url)} ({error or type(error).__name__}): is "
                         "PostgreSQL running there, and is TICKERDESK_DATABASE_URL right?") from None


async def migrate_database(url: str) -> None:
    await (await _connect(url)).close()  # an unreachable server is one line, not Alembic's traceback
    await migrate(url)


async def verify_database(url: str) -> list[Violation]:
    conn = await _connect(url)
    try:
        return await verify(conn)
    except (asyncpg.UndefinedTableError, asyncpg.UndefinedColumnError) as error:
        raise SetupError(f"the database at {_shown(url)} lacks tickerdesk's newest schema ({error}): run "
                         "`tickerdesk migrate` with the same settings, then verify again") from None
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def _history_beside(settings: Settings, url: str) -> AsyncIterator[tuple[asyncpg.Pool, History]]:
    """A pool on the truth (`url`) and the configured history store, for operator commands."""
    await (await _connect(url)).close()  # an unreachable server is one line
    pool = await create_pool(url, 4)
    history_pool = await create_pool(settings.history_database_url, 4) if settings.history_database_url else pool
    try:
        history, close_history = await open_history(settings, history_pool)
        try:
            yield pool, history
        finally:
            await close_history()
    finally:
        if history_pool is not pool:
            await history_pool.close()
        await pool.close()


async def verify_history(settings: Settings, url: str,
                         progress: Callable[[int, int], None] | None = None) -> list[Violation]:
    """The configured history store against the trades in `url`: `verify.history_drift`."""
    async with _history_beside(settings, url) as (pool, history):
        return await history_drift(pool, history, progress=progress)


async def rebuild_history(settings: Settings, url: str, user_id: str | None,
                          progress: Callable[[int, int], None]) -> int:
    """Re-project the configured history store from the trades in `url` (one user's, or
    everyone's), a batch at a time, beside a running projector (see `History.restore`).
    `progress(done, total)` after each batch; returns how many trades were written."""
    async with _history_beside(settings, url) as (pool, history):
        total, done = await count_trades(pool, user_id), 0
        progress(0, total)
        async for orders in trades_in_batches(pool, user_id):
            await history.restore(orders)
            done += len(orders)
            progress(done, max(total, done))
        return done
