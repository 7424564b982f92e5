"""What the entry points are given: every port a route or a consumer needs, typed by
its port. `tickerdesk.bootstrap` fills it with concrete adapters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal

from tickerdesk.app.ports import (
    Clock,
    CommandStore,
    EmailChannel,
    History,
    Inbox,
    NotificationDeliveries,
    NotificationHub,
    NotificationSettings,
    PriceBook,
    Queries,
    RateLimiter,
    ReadCache,
    SimulatorControl,
    SmsChannel,
    Webhooks,
)
from tickerdesk.app.rate_limits import RateLimit
from tickerdesk.domain.instruments import Instrument


@dataclass(kw_only=True)
class NotificationServices:
    """What the notification routes need: the stores, the channels that send
    verification codes, the VAPID public key browsers subscribe with, and the secret
    that signs unsubscribe links and keys code hashes."""

    settings: NotificationSettings
    deliveries: NotificationDeliveries
    email: EmailChannel
    sms: SmsChannel
    push_public_key: str
    secret: str


@dataclass(kw_only=True)
class Services:
    commands: CommandStore
    queries: Queries
    history: History
    inbox: Inbox
    webhooks: Webhooks
    instruments: dict[str, Instrument]
    prices: PriceBook
    sim: SimulatorControl
    cache: ReadCache
    limiter: RateLimiter
    limits: dict[str, RateLimit]
    hub: NotificationHub
    clock: Clock
    notifications: NotificationServices | None = None  # email, push and SMS (set by every process that serves them)
    # Readiness: name -> a check that raises when that dependency is down.
    checks: dict[str, Callable[[], Awaitable[object]]] = field(default_factory=dict)

    def add_instrument(self, instrument: Instrument, price: Decimal) -> None:
        self.instruments[instrument.symbol] = instrument
        self.prices.set(instrument.symbol, price)
