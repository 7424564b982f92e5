"""Notifications by email, Web Push and SMS: what each user wants where, as pure rules.

- `Preferences`: for each event type a user can be told about, the channels that tell
  them (`DEFAULT_CHANNELS` until they choose), and quiet hours.
- `plan_deliveries`: which (event, channel, target) deliveries an event makes for a
  user, given their preferences, verified contacts and push subscriptions. A channel
  with no verified contact (or no subscription) gets nothing: nothing is ever sent to
  an address its owner has not proven.
- Verification codes: their shape and lifetime.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tickerdesk.domain.errors import InvalidRequest
from tickerdesk.domain.events import Event, EventType, TradeFilled


class Channel(StrEnum):
    EMAIL = "email"
    PUSH = "push"
    SMS = "sms"


class ContactKind(StrEnum):
    """A contact is proven over the channel it serves: an email address by email, a phone by SMS."""

    EMAIL = "email"
    PHONE = "phone"

    @property
    def channel(self) -> Channel:
        return Channel.EMAIL if self is ContactKind.EMAIL else Channel.SMS


# The event types a person may be told about by email, push or SMS (a portfolio change
# always comes with its trade's event, so it is not offered on its own).
NOTIFIABLE: tuple[EventType, ...] = (
    EventType.TRADE_PLACED,
    EventType.TRADE_EXECUTED,
    EventType.TRADE_PARTIALLY_EXECUTED,
    EventType.TRADE_CANCELED,
    EventType.TRADE_EXPIRED,
    EventType.TRADE_REJECTED,
    EventType.BALANCE_UPDATED,
)
_EVERYWHERE_BUT_SMS = frozenset({Channel.PUSH, Channel.EMAIL})
# Fills, cancels, expiries and rejections by push and email; SMS only when chosen.
DEFAULT_CHANNELS: Mapping[EventType, frozenset[Channel]] = {
    EventType.TRADE_PLACED: frozenset(),
    EventType.TRADE_EXECUTED: _EVERYWHERE_BUT_SMS,
    EventType.TRADE_PARTIALLY_EXECUTED: _EVERYWHERE_BUT_SMS,
    EventType.TRADE_CANCELED: _EVERYWHERE_BUT_SMS,
    EventType.TRADE_EXPIRED: _EVERYWHERE_BUT_SMS,
    EventType.TRADE_REJECTED: _EVERYWHERE_BUT_SMS,
    EventType.BALANCE_UPDATED: frozenset(),
}
# Channels that interrupt a person: quiet hours hold them back (email waits in an inbox anyway).
INTERRUPTING = frozenset({Channel.PUSH, Channel.SMS})
# Fills of one order are grouped into one message on these channels (see `group_key`).
GROUPED = frozenset({Channel.EMAIL, Channel.SMS})


@dataclass(frozen=True)
class QuietHours:
    """From `start` to `end` (local time in `time_zone`; `end` before `start` spans
    midnight) push and SMS wait until the quiet hours end."""

    start: time
    end: time
    time_zone: str

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise InvalidRequest("quietHours: start and end must differ")
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory of zones, not a zone
            raise InvalidRequest(f"quietHours.timeZone: unknown time zone {self.time_zone!r}") from None

    def ends_after(self, moment: datetime) -> datetime | None:
        """When the quiet hours around `moment` end, or None if `moment` is not in them."""
        local = moment.astimezone(ZoneInfo(self.time_zone))
        now = local.time().replace(tzinfo=None)
        quiet = self.start <= now < self.end if self.start < self.end else now >= self.start or now < self.end
        if not quiet:
            return None
        day = local.date() if now < self.end else local.date() + timedelta(days=1)
        return datetime.combine(day, self.end, tzinfo=local.tzinfo)


@dataclass(frozen=True)
class Preferences:
    channels: Mapping[EventType, frozenset[Channel]] = field(default_factory=lambda: dict(DEFAULT_CHANNELS))
    quiet_hours: QuietHours | None = None

    def of(self, event_type: EventType) -> frozenset[Channel]:
        return self.channels.get(event_type, frozenset())

    def with_channels(self, changes: Mapping[EventType, Iterable[Channel]]) -> Preferences:
        """These types set to these channels; the others as they were."""
        unknown = [str(t) for t in changes if t not in DEFAULT_CHANNELS]
        if unknown:
            raise InvalidRequest(f"channels: cannot notify about {unknown}; choose from {[str(t) for t in NOTIFIABLE]}")
        merged = {**self.channels, **{t: frozenset(c) for t, c in changes.items()}}
        return Preferences({t: merged.get(t, frozenset()) for t in NOTIFIABLE}, self.quiet_hours)

    def without(self, event_type: EventType, channel: Channel) -> Preferences:
        """Unsubscribed: this type no longer by this channel."""
        return Preferences({**self.channels, event_type: self.of(event_type) - {channel}}, self.quiet_hours)


@dataclass(frozen=True)
class Targets:
    """Where a user can be reached now: verified addresses and push subscriptions (ids)."""

    preferences: Preferences
    email: str | None = None  # verified
    phone: str | None = None  # verified, E.164
    push_subscriptions: Sequence[str] = ()


@dataclass(frozen=True)
class PlannedDelivery:
    """One message to send: `target` tells deliveries of one channel apart (a push
    subscription id; empty for email and SMS), so (event, channel, target) is unique."""

    user_id: str
    event: Event
    channel: Channel
    target: str
    recipient: str
    group_key: str | None
    not_before: datetime | None  # quiet hours; None: at once (or after the grouping window)


def group_key(event: Event) -> str | None:
    """Fills of one order share a key: a message about one of them carries the others due with it."""
    return f"fills:{event.order.trade_id}" if isinstance(event, TradeFilled) else None


def plan_deliveries(event: Event, targets: Targets, now: datetime) -> list[PlannedDelivery]:
    """The deliveries `event` makes for its user (none for an event they are not told about)."""
    if event.type not in DEFAULT_CHANNELS:
        return []
    wanted = targets.preferences.of(event.type)
    quiet = targets.preferences.quiet_hours
    resume = quiet.ends_after(now) if quiet is not None else None
    planned: list[PlannedDelivery] = []

    def add(channel: Channel, target: str, recipient: str) -> None:
        not_before = resume if channel in INTERRUPTING else None
        key = group_key(event) if channel in GROUPED else None
        planned.append(PlannedDelivery(event.user_id, event, channel, target, recipient, key, not_before))

    if Channel.EMAIL in wanted and targets.email:
        add(Channel.EMAIL, "", targets.email)
    if Channel.SMS in wanted and targets.phone:
        add(Channel.SMS, "", targets.phone)
    if Channel.PUSH in wanted:
        for subscription_id in targets.push_subscriptions:
            add(Channel.PUSH, subscription_id, subscription_id)
    return planned


# -- contacts ----------------------------------------------------------------------------

EMAIL_PATTERN = re.compile(r"^[^@\s<>()\[\],;:\"\\]{1,64}@(?=.{1,253}$)([A-Za-z0-9-]{1,63}\.)+[A-Za-z0-9-]{2,63}$")
PHONE_PATTERN = re.compile(r"^\+[1-9][0-9]{7,14}$")  # E.164
CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=10)
CODE_MAX_ATTEMPTS = 5
CODE_RESEND_AFTER = timedelta(seconds=30)


def checked_address(kind: ContactKind, value: str) -> str:
    """The address in the one form it is stored and compared in, or InvalidRequest."""
    value = value.strip()
    if kind is ContactKind.EMAIL:
        if not EMAIL_PATTERN.match(value):
            raise InvalidRequest("address: must be an email address such as ada@example.com")
        local, _, domain = value.rpartition("@")
        return f"{local}@{domain.lower()}"
    compact = re.sub(r"[\s().-]", "", value)
    if not PHONE_PATTERN.match(compact):
        raise InvalidRequest("number: must be a phone number in international form, such as +14155550123")
    return compact
