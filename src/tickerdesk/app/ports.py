"""The ports the use cases and consumers talk through.

Each has a production adapter and an in-process one (`tickerdesk up`, and the fakes
the unit tests run the use cases on); the use cases never know which. Only
`tickerdesk.bootstrap` names the concrete adapters.
"""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from tickerdesk.app.rate_limits import Decision, RateLimit
from tickerdesk.domain.accounting import Balance, FundingInstruction, LedgerEntry, Position
from tickerdesk.domain.events import BalanceUpdated, Event, PortfolioUpdated, TradePlaced
from tickerdesk.domain.instruments import Instrument
from tickerdesk.domain.notifications import Channel, ContactKind, PlannedDelivery, Preferences, Targets
from tickerdesk.domain.orders import Order, Side, TimeInForce

# -- time ----------------------------------------------------------------------


class Clock(Protocol):
    """Time is a port, so a test can close the trading day without sleeping."""

    def now(self) -> datetime: ...


# -- the write side --------------------------------------------------------------


class UnitOfWork(Protocol):
    """One transaction. Locks are taken in one order everywhere (trade, position,
    account) so that concurrent commands on one user cannot deadlock. Events added
    are committed with the change, and reach the post-commit effects after it."""

    async def lock_order(self, user_id: str, trade_id: str) -> Order | None: ...

    async def save_order(self, order: Order) -> None: ...

    async def record_execution(
        self, order: Order, execution_id: str, quantity: int, price: Decimal, at: datetime
    ) -> bool:
        """False when this execution id was applied before: the report is a repeat."""
        ...

    async def post(self, user_id: str, entries: Sequence[LedgerEntry], trade_id: str | None,
                   at: datetime) -> Balance:
        """Journal `entries` and move the balance by `balance_delta(entries)`; the new balance."""
        ...

    async def lock_position(self, user_id: str, symbol: str) -> Position: ...

    async def save_position(self, user_id: str, position: Position, at: datetime) -> None: ...

    async def add_events(self, events: Sequence[Event]) -> None: ...


@dataclass(frozen=True)
class NewOrder:
    """What a placement writes: the order with its hold, and its `trade.placed` event.

    `update_event_id` is the id of the `balance.updated` (buy) or `portfolio.updated`
    (sell) event the store writes from the balance or position the hold leaves."""

    placed: TradePlaced
    idempotency_key: str | None
    request_hash: str
    update_event_id: str


class CommandStore(Protocol):
    """Where commands change state. Placement and funding are single operations
    (one statement in PostgreSQL); fills and cancels read before they write, so they
    run in a `UnitOfWork`. A hold or withdrawal the balance cannot cover raises
    InsufficientFunds / InsufficientShares and writes nothing."""

    async def place(self, new: NewOrder) -> BalanceUpdated | PortfolioUpdated | None:
        """Hold `new.placed.order.initial_cash_hold` (buy) or its quantity of shares
        (sell), insert the order, journal the hold and write both events. None: an
        order with one of its keys already exists, and nothing was written."""
        ...

    async def find_by_keys(
        self, user_id: str, client_order_id: str | None, idempotency_key: str | None
    ) -> list[tuple[Order, str]]:
        """Orders with either key, each with the request hash it was placed with."""
        ...

    async def fund(
        self, user_id: str, entry: LedgerEntry, reference: str | None, event_id: str, at: datetime
    ) -> BalanceUpdated | None:
        """Deposit or withdraw, recording the instruction under `reference` in the same
        write. None: an instruction with this reference exists (for any user), and
        nothing was written."""
        ...

    async def funding_instruction(self, reference: str) -> FundingInstruction | None:
        """The instruction recorded under `reference`, if any."""
        ...

    def unit_of_work(self) -> AbstractAsyncContextManager[UnitOfWork]: ...


AfterCommit = Callable[[Sequence[Event]], Awaitable[None]]
"""Called by a command store once per commit, with the events the commit wrote."""


# -- the read side ---------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    """The recorded ticks of one interval of one symbol: open and close are the first
    and last tick by time, `ticks` how many there were."""

    start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    ticks: int


class Queries(Protocol):
    """What the API reads from the books; every query filters by user first."""

    async def instruments(self) -> tuple[dict[str, Instrument], dict[str, Decimal]]: ...

    async def save_prices(self, prices: dict[str, Decimal], at: datetime | None = None) -> None:
        """Save the last prices and record each as a tick at `at` (None: now), in one write."""
        ...

    async def bars(self, symbol: str, step: timedelta, origin: datetime, since: datetime,
                   until: datetime) -> list[Bar]:
        """The bars of `step` (aligned to `origin`) of the ticks at or after `since` and
        before `until`, oldest first; an interval without ticks has no bar."""
        ...

    async def trade(self, user_id: str, trade_id: str) -> tuple[Order, list[dict[str, Any]]] | None: ...

    async def trades(self, user_id: str, *, statuses: list[str] | None, symbol: str | None,
                     cursor: str | None, limit: int) -> list[Order]: ...

    async def open_orders(self) -> list[Order]: ...

    async def balance(self, user_id: str) -> Balance: ...

    async def ledger(self, user_id: str, *, cursor: int | None, limit: int) -> list[dict[str, Any]]: ...

    async def positions(self, user_id: str) -> list[Position]: ...


class History(Protocol):
    """The transaction-history read model, projected from trade events (eventually consistent;
    PostgreSQL or a DynamoDB-API store, see docs/history-store.md). `trades` pages newest first:
    `cursor` is the trade id the previous page ended on, and a page is short only at the end.
    Every write is conditional: a state replaces an older one only (a later event id and no
    less `orders.progress`), so a redelivered, reordered or rebuilt state never rolls one back."""

    async def project(self, events: Sequence[Event]) -> None: ...

    async def trades(self, user_id: str, *, statuses: list[str], symbol: str | None, since: datetime | None,
                     until: datetime | None, cursor: str | None, limit: int,
                     side: str | None = None) -> list[dict[str, Any]]: ...

    async def restore(self, orders: Sequence[Order]) -> None:
        """Write each order as the truth (PostgreSQL) holds it, unless the store has it further
        along (`tickerdesk history rebuild`); later events still apply over it."""
        ...

    async def summary(self, user_id: str) -> dict[str, tuple[str, int]]:
        """Each trade of the user's history that left `pending`: its status and filled quantity
        (`tickerdesk verify` compares them with PostgreSQL)."""
        ...


@dataclass(frozen=True)
class Notification:
    """A user-facing event in its user's inbox; `seq` orders the user's inbox."""

    seq: int
    event: Event


class Inbox(Protocol):
    async def store(self, events: Sequence[Event]) -> list[Notification]:
        """Store each event once; its notification (a repeat gets its original `seq`), in `seq` order."""
        ...

    async def after(self, user_id: str, *, after: int | None, limit: int) -> list[Notification]: ...


class Subscription(Protocol):
    overflowed: bool

    async def get(self) -> Notification: ...


class NotificationHub(Protocol):
    """Fans notifications out to the connections open on every api replica."""

    async def publish(self, notifications: Sequence[Notification]) -> None: ...

    def subscribe(self, user_id: str) -> AbstractAsyncContextManager[Subscription]: ...

    async def close(self) -> None: ...


class Webhooks(Protocol):
    """Registered endpoints and their deliveries (the sender is an adapter of its own)."""

    async def register(self, user_id: str, url: str, event_types: list[str] | None) -> dict[str, Any]: ...

    async def list(self, user_id: str) -> list[dict[str, Any]]: ...

    async def delete(self, user_id: str, webhook_id: str) -> bool: ...

    # `builtins.list`: in this class `list` names the method above.
    async def deliveries(self, user_id: str, webhook_id: str, *, limit: int,
                         cursor: int | None = None) -> builtins.list[dict[str, Any]] | None: ...

    async def enqueue(self, events: Sequence[Event]) -> int: ...


# -- caches and limits -----------------------------------------------------------


class ReadCache(Protocol):
    """Per-user cached views; see the Redis adapter for the versioning that keeps a
    slow reader from storing a value older than the last invalidation."""

    async def get(self, kind: str, user_id: str) -> dict[str, Any] | None: ...

    async def put(self, kind: str, user_id: str, value: dict[str, Any], *, version: int) -> None: ...

    async def invalidate(self, user_id: str) -> None: ...

    async def version(self, user_id: str) -> int: ...


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: RateLimit, cost: int = 1) -> Decision: ...

    async def peek(self, key: str, limit: RateLimit) -> Decision:
        """What a hit of 1 would be told, taking nothing: a bucket that counts failures
        is read on every attempt but spent only when one fails."""
        ...


# -- the venue -------------------------------------------------------------------


@dataclass(frozen=True)
class VenueOrder:
    """What the venue receives: a FIX NewOrderSingle in miniature. `account` is the
    user id, so that reports route back to the user's shard without a lookup.
    `accepted_at` is when tickerdesk accepted the order (its `created_at`): the trading
    day a `day` order belongs to, however late it reaches the venue."""

    trade_id: str
    account: str
    symbol: str
    side: Side
    quantity: int
    limit_price: Decimal | None  # None: a market sell
    time_in_force: TimeInForce
    accepted_at: datetime


class ReportKind(StrEnum):
    NEW = "new"
    PARTIAL_FILL = "partial_fill"
    FILL = "fill"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"


FILL_KINDS = frozenset({ReportKind.PARTIAL_FILL, ReportKind.FILL})


@dataclass(frozen=True)
class ExecutionReport:
    """A FIX ExecutionReport in miniature; `execution_id` is unique per report."""

    execution_id: str
    trade_id: str
    account: str
    kind: ReportKind
    last_quantity: int
    last_price: Decimal | None
    cumulative_quantity: int
    remaining_quantity: int
    occurred_at: datetime
    reason: str | None = None


ReportSink = Callable[[ExecutionReport], Awaitable[None]]


class Venue(Protocol):
    async def submit(self, order: VenueOrder) -> None: ...

    async def cancel(self, trade_id: str, account: str, symbol: str) -> None: ...


class SimulatorControl(Protocol):
    """Only the simulated venue has these; a real venue has its own operators."""

    async def set_price(self, symbol: str, price: Decimal, liquidity: int | None) -> None: ...

    async def close_session(self, at: datetime) -> None:
        """End the trading day at `at` (the clock that stamps orders' `created_at`):
        every `day` order accepted before it expires, also one still on its way to the
        venue; orders accepted after it belong to the next day."""
        ...


class PriceBook(Protocol):
    """The last price of every instrument, kept current by the feed."""

    def last(self, symbol: str) -> Decimal | None: ...

    def set(self, symbol: str, price: Decimal) -> None: ...


EventConsumer = Callable[[Sequence[Event]], Awaitable[None]]
"""What the event bus calls with a batch of events, in order."""


# -- notifications by email, Web Push and SMS --------------------------------------------


@dataclass(frozen=True)
class PendingCode:
    """A verification code sent to `address` and not yet confirmed (only its hash is kept)."""

    address: str
    code_hash: str
    expires_at: datetime
    attempts: int  # counted, including the one that returned this


@dataclass(frozen=True)
class PushTarget:
    """A browser's push subscription (its PushSubscription JSON, as registered)."""

    subscription_id: str
    endpoint: str
    p256dh: str  # base64url, the browser's P-256 public key
    auth: str  # base64url, the 16-byte authentication secret


class NotificationSettings(Protocol):
    """Each user's preferences, contacts and push subscriptions."""

    async def preferences(self, user_id: str) -> Preferences: ...

    async def save_preferences(self, user_id: str, preferences: Preferences) -> None: ...

    async def contacts(self, user_id: str) -> dict[ContactKind, tuple[str, bool]]:
        """Each contact the user has: its address and whether it is verified."""
        ...

    async def new_code(self, user_id: str, kind: ContactKind, address: str, code_hash: str, *, now: datetime,
                       expires_at: datetime, resend_after: timedelta) -> datetime | None:
        """Make `address` the user's (unverified) contact of this kind with a new pending code.
        None when done; else nothing changed, and this is when a new code may be sent
        (the last one for the same address went out less than `resend_after` ago)."""
        ...

    async def take_attempt(self, user_id: str, kind: ContactKind, max_attempts: int) -> PendingCode | None:
        """Count one attempt at the pending code and return it; None when no code is
        pending or its attempts are used up."""
        ...

    async def mark_verified(self, user_id: str, kind: ContactKind, code_hash: str, at: datetime) -> bool:
        """The contact is verified, if its pending code is still this one."""
        ...

    async def add_push_subscription(self, user_id: str, endpoint: str, p256dh: str, auth: str) -> dict[str, Any]:
        """Register (or, for a known endpoint, update) a subscription; its view."""
        ...

    async def push_subscriptions(self, user_id: str) -> list[dict[str, Any]]: ...

    async def delete_push_subscription(self, user_id: str, subscription_id: str) -> bool: ...

    async def targets(self, user_ids: Sequence[str]) -> dict[str, Targets]:
        """Each user's preferences, verified contacts and push subscriptions, in one read."""
        ...


@dataclass(frozen=True)
class DueNotification:
    """A claimed delivery, with what its channel needs to send it."""

    user_id: str
    delivery_id: int
    event: Event
    channel: Channel
    recipient: str  # the email address or phone number; the subscription id for push
    group_key: str | None
    attempts: int  # before this one
    push: PushTarget | None = None


class NotificationDeliveries(Protocol):
    """One row per (event, channel, target): a redelivered event adds nothing. Senders
    claim due rows for a lease (so several may run), and record each attempt fenced by
    the attempt count they claimed."""

    async def enqueue(self, planned: Sequence[PlannedDelivery], *, group_seconds: float) -> int:
        """Store the deliveries not stored before; how many were new. A grouped delivery
        waits `group_seconds`, so the fills that follow it can join its message."""
        ...

    async def claim_due(self, channel: Channel, limit: int, *, lease_seconds: float) -> list[DueNotification]: ...

    async def claim_group(self, delivery: DueNotification, *, lease_seconds: float) -> list[DueNotification]:
        """Claim the other pending, never attempted deliveries of `delivery`'s group (same
        user, channel and key), due or not, so that one message carries them all."""
        ...

    async def mark_delivered(self, delivery: DueNotification, carried: Sequence[DueNotification] = ()) -> bool: ...

    async def mark_failed_attempt(self, delivery: DueNotification, *, error: str,
                                  next_attempt_at: datetime | None) -> bool:
        """Retry at `next_attempt_at`, or (None) fail for good."""
        ...

    async def release(self, deliveries: Sequence[DueNotification]) -> None:
        """Give claimed deliveries back untouched (a group whose message was not sent)."""
        ...

    async def page(self, user_id: str, *, limit: int, cursor: int | None) -> list[dict[str, Any]]:
        """The user's deliveries, newest first; the delivery id is the cursor."""
        ...


class DeliveryFailed(Exception):
    """A channel could not deliver. `permanent`: retrying cannot help (an address the
    server refuses, a message it will never take); `gone`: the push subscription no
    longer exists (404/410) and is removed."""

    def __init__(self, reason: str, *, permanent: bool = False, gone: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent or gone
        self.gone = gone


@dataclass(frozen=True)
class OutgoingEmail:
    to: str
    subject: str
    text: str
    html: str
    unsubscribe_url: str | None = None  # also as List-Unsubscribe (with one-click, RFC 8058)


class EmailChannel(Protocol):
    async def send(self, email: OutgoingEmail) -> None:
        """Hand the message to the mail server; DeliveryFailed when it is not taken."""
        ...


class PushChannel(Protocol):
    @property
    def public_key(self) -> str:
        """The VAPID public key (base64url, uncompressed P-256): a browser's applicationServerKey."""
        ...

    async def send(self, target: PushTarget, payload: bytes, *, ttl_seconds: int, urgency: str,
                   topic: str | None) -> None:
        """Encrypt `payload` for the subscription and post it to its push service."""
        ...


class SmsChannel(Protocol):
    async def send(self, to: str, body: str) -> None: ...
