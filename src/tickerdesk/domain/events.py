"""Events: what happened, as frozen data and nothing else.

Each type is a dataclass with an explicit `schema_version`; its JSON (wire) form is
made in one place, `tickerdesk.codec`. Trade events carry the order as it is after
the change; balance and portfolio events carry the new balance or position. The
outbox, the broker and the consumers only move them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar

from tickerdesk.domain.accounting import Balance, Position
from tickerdesk.domain.ids import new_event_id, new_trade_id
from tickerdesk.domain.orders import Order

__all__ = ["new_event_id", "new_trade_id"]  # re-exported: ids are part of every event


class EventType(StrEnum):
    TRADE_PLACED = "trade.placed"
    TRADE_PARTIALLY_EXECUTED = "trade.partiallyExecuted"
    TRADE_EXECUTED = "trade.executed"
    TRADE_CANCELED = "trade.canceled"
    TRADE_EXPIRED = "trade.expired"
    TRADE_REJECTED = "trade.rejected"
    BALANCE_UPDATED = "balance.updated"
    PORTFOLIO_UPDATED = "portfolio.updated"
    # Internal: routes a cancel request to the venue; users are told when it lands.
    TRADE_CANCEL_REQUESTED = "trade.cancelRequested"


# What a user's inbox, streams and webhooks carry.
USER_FACING = frozenset(t for t in EventType if t is not EventType.TRADE_CANCEL_REQUESTED)


@dataclass(frozen=True, kw_only=True)
class Event:
    """The envelope's fields; subclasses add the data and name their type."""

    type: ClassVar[EventType]
    schema_version: ClassVar[int] = 1

    user_id: str
    occurred_at: datetime
    id: str = field(default_factory=new_event_id)

    @property
    def user_facing(self) -> bool:
        return self.type in USER_FACING


@dataclass(frozen=True, kw_only=True)
class TradeEvent(Event):
    """Something happened to an order; `order` is the order after it."""

    order: Order


@dataclass(frozen=True, kw_only=True)
class TradePlaced(TradeEvent):
    type: ClassVar[EventType] = EventType.TRADE_PLACED


@dataclass(frozen=True, kw_only=True)
class TradeCancelRequested(TradeEvent):
    type: ClassVar[EventType] = EventType.TRADE_CANCEL_REQUESTED


@dataclass(frozen=True, kw_only=True)
class TradeFilled(TradeEvent):
    """A fill: `last_quantity` shares at `last_price`."""

    last_quantity: int
    last_price: Decimal


@dataclass(frozen=True, kw_only=True)
class TradePartiallyExecuted(TradeFilled):
    type: ClassVar[EventType] = EventType.TRADE_PARTIALLY_EXECUTED


@dataclass(frozen=True, kw_only=True)
class TradeExecuted(TradeFilled):
    type: ClassVar[EventType] = EventType.TRADE_EXECUTED


@dataclass(frozen=True, kw_only=True)
class TradeCanceled(TradeEvent):
    type: ClassVar[EventType] = EventType.TRADE_CANCELED


@dataclass(frozen=True, kw_only=True)
class TradeExpired(TradeEvent):
    type: ClassVar[EventType] = EventType.TRADE_EXPIRED


@dataclass(frozen=True, kw_only=True)
class TradeRejected(TradeEvent):
    type: ClassVar[EventType] = EventType.TRADE_REJECTED


@dataclass(frozen=True, kw_only=True)
class BalanceUpdated(Event):
    type: ClassVar[EventType] = EventType.BALANCE_UPDATED
    balance: Balance


@dataclass(frozen=True, kw_only=True)
class PortfolioUpdated(Event):
    """One holding changed (quantity, shares held by open sells, average, realized P&L)."""

    type: ClassVar[EventType] = EventType.PORTFOLIO_UPDATED
    position: Position


EVENT_TYPES: dict[EventType, type[Event]] = {
    cls.type: cls
    for cls in (TradePlaced, TradeCancelRequested, TradePartiallyExecuted, TradeExecuted, TradeCanceled,
                TradeExpired, TradeRejected, BalanceUpdated, PortfolioUpdated)
}

def changes_holdings(event: Event) -> bool:
    """Whether a user's cached balance or portfolio is stale once this event commits."""
    return isinstance(event, BalanceUpdated | PortfolioUpdated)
