"""The ports the use cases talk through. Each has a production adapter and an
in-process one (`tickerdesk up`); the use cases never know which."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from tickerdesk.domain.orders import Side, TimeInForce


@dataclass(frozen=True)
class VenueOrder:
    """What the venue receives: a FIX NewOrderSingle in miniature. `account` is the
    user id, so that reports route back to the user's shard without a lookup."""

    trade_id: str
    account: str
    symbol: str
    side: Side
    quantity: int
    limit_price: Decimal | None  # None: a market sell
    time_in_force: TimeInForce


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

    async def close_session(self) -> None: ...


class PriceBook(Protocol):
    def last(self, symbol: str) -> Decimal | None: ...


EventHandler = Callable[[list[dict[str, Any]]], Awaitable[None]]
