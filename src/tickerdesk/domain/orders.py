"""Orders: what a client may ask for, the state machine, and what each fill does.

An order's hold is fixed when it is placed: a buy holds `quantity x hold_price`,
where `hold_price` is the limit, or for a market buy the +5% collar that the venue
also receives as the order's limit, so no fill can ever cost more than was held.
A sell holds its shares. Every later step only moves parts of that hold.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from tickerdesk.domain.errors import InvalidRequest, InvalidTransition, PriceOutOfBand
from tickerdesk.domain.money import MAX_PRICE, ZERO, ceil_cents, round_average

MARKET_COLLAR = Decimal("1.05")
# The fat-finger guard: a limit more than this factor above or below the last price is
# refused at placement, before any hold; the venue refuses the same as a second line.
PRICE_BAND = Decimal(10)


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"


class TimeInForce(StrEnum):
    DAY = "day"
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"


class Status(StrEnum):
    PENDING = "pending"
    PARTIALLY_EXECUTED = "partiallyExecuted"
    EXECUTED = "executed"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"


OPEN_STATUSES = frozenset({Status.PENDING, Status.PARTIALLY_EXECUTED})
# The edges of the state machine; a terminal status has none.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PENDING: frozenset(
        {Status.PARTIALLY_EXECUTED, Status.EXECUTED, Status.CANCELED, Status.EXPIRED, Status.REJECTED}
    ),
    Status.PARTIALLY_EXECUTED: frozenset(
        {Status.PARTIALLY_EXECUTED, Status.EXECUTED, Status.CANCELED, Status.EXPIRED}
    ),
}
CLOSING_STATUSES = frozenset({Status.CANCELED, Status.EXPIRED, Status.REJECTED})
# What the transaction history shows: trades that executed (fully or partly) or ended.
HISTORY_STATUSES = [str(s) for s in Status if s is not Status.PENDING]


def can_transition(current: Status, new: Status) -> bool:
    return new in TRANSITIONS.get(current, frozenset())


# `progress`: the status's step along the machine, times this, plus the shares filled.
PROGRESS_STEP = 10**12


def progress(status: Status | str, filled_quantity: int) -> int:
    """How far an order has come: a number that never falls along the state machine
    (pending, then partiallyExecuted with more shares at each fill, then a final status
    with its fills kept). A read model that keeps the furthest state it saw can refuse a
    stale one without knowing which event made it (`tickerdesk history rebuild` writes
    states that no event id names)."""
    step = 0 if status == Status.PENDING else 1 if status == Status.PARTIALLY_EXECUTED else 2
    return step * PROGRESS_STEP + filled_quantity


@dataclass(frozen=True)
class OrderRequest:
    """A validated request to place an order (before it has an id or a hold)."""

    symbol: str
    side: Side
    order_type: OrderType
    quantity: int
    limit_price: Decimal | None
    time_in_force: TimeInForce = TimeInForce.DAY
    client_order_id: str | None = None

    def __post_init__(self) -> None:
        if self.order_type is OrderType.LIMIT and self.limit_price is None:
            raise InvalidRequest("a limit order needs a limitPrice")
        if self.order_type is OrderType.MARKET and self.limit_price is not None:
            raise InvalidRequest("a market order takes no limitPrice")


def market_buy_collar(last_price: Decimal) -> Decimal:
    """The price a market buy holds and is sent to the venue at: last price + 5%.

    The one rounding in tickerdesk's money: up, so the hold always covers the collar.
    """
    return min(ceil_cents(last_price * MARKET_COLLAR), MAX_PRICE)


def hold_price_for(request: OrderRequest, last_price: Decimal | None) -> Decimal | None:
    """The price per share a buy holds; None for a sell, which holds shares instead."""
    if request.side is Side.SELL:
        return None
    if request.order_type is OrderType.LIMIT:
        return request.limit_price
    if last_price is None:  # every instrument has a last price (NOT NULL in the database)
        raise TypeError(f"a market buy of {request.symbol} needs its last price")
    return market_buy_collar(last_price)


def within_price_band(price: Decimal, last_price: Decimal) -> bool:
    """Bounds included; dividing by 10 is exact, so nothing here rounds."""
    return last_price / PRICE_BAND <= price <= last_price * PRICE_BAND


def check_price_band(request: OrderRequest, last_price: Decimal | None) -> None:
    """Refuse a limit outside the band around the last price. A market order has no
    limit to check (a market buy's collar is 5% above the price)."""
    limit = request.limit_price
    if limit is None or last_price is None or within_price_band(limit, last_price):
        return
    low, high, last = (f"{v.normalize():f}" for v in (last_price / PRICE_BAND, last_price * PRICE_BAND, last_price))
    raise PriceOutOfBand(
        f"limitPrice {limit.normalize():f} is outside the price band of {request.symbol}: between {low} and {high}, "
        f"{PRICE_BAND}x either side of the last price {last}"
    )


def venue_limit_for(request: OrderRequest, hold_price: Decimal | None) -> Decimal | None:
    """What the venue receives as the limit: the limit, the buy collar, or none."""
    if request.order_type is OrderType.LIMIT:
        return request.limit_price
    return hold_price  # a market buy is a marketable limit at its collar; a market sell has none


@dataclass(frozen=True)
class Order:
    trade_id: str
    user_id: str
    symbol: str
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    quantity: int
    limit_price: Decimal | None
    hold_price: Decimal | None
    status: Status
    created_at: datetime
    updated_at: datetime
    filled_quantity: int = 0
    filled_value: Decimal = ZERO
    cancel_requested: bool = False
    client_order_id: str | None = None
    reject_reason: str | None = None

    @property
    def remaining_quantity(self) -> int:
        return self.quantity - self.filled_quantity

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def buy_hold_price(self) -> Decimal:
        """A buy's hold price. Every buy has one (`hold_price_for`, and a CHECK in the
        database), so None here is corrupt data, not a broken rule."""
        if self.hold_price is None:
            raise TypeError(f"buy order {self.trade_id} has no hold price")
        return self.hold_price

    @property
    def held_cash(self) -> Decimal:
        """The cash this order still holds: its unfilled shares at its hold price."""
        if self.side is Side.BUY and self.is_open:
            return self.remaining_quantity * self.buy_hold_price
        return ZERO

    @property
    def held_shares(self) -> int:
        return self.remaining_quantity if self.side is Side.SELL and self.is_open else 0

    @property
    def initial_cash_hold(self) -> Decimal:
        return self.quantity * self.buy_hold_price if self.side is Side.BUY else ZERO

    @property
    def average_fill_price(self) -> Decimal | None:
        if self.filled_quantity == 0:
            return None
        return round_average(self.filled_value / self.filled_quantity)

    @property
    def price_per_share(self) -> Decimal | None:
        """The seed's `pricePerShare`: average execution price once filled, else the limit."""
        return self.average_fill_price if self.filled_quantity else self.limit_price

    @property
    def total_price(self) -> Decimal | None:
        """`pricePerShare x shares`: the exact cost of the fills, else the limit x quantity."""
        if self.filled_quantity:
            return self.filled_value
        if self.limit_price is None:
            return None
        return self.limit_price * self.quantity


@dataclass(frozen=True)
class FillEffect:
    """What one fill moves. For a buy, `spent` leaves the hold and `released` goes
    back to available; for a sell, `proceeds` become available and `shares` leave
    both the position and its held quantity."""

    shares: int
    price: Decimal
    spent: Decimal = ZERO
    released: Decimal = ZERO
    proceeds: Decimal = ZERO


def apply_fill(order: Order, quantity: int, price: Decimal, now: datetime) -> tuple[Order, FillEffect]:
    """Apply one execution to an open order; refuse one the order could not have had."""
    if not order.is_open:
        raise InvalidTransition(f"order {order.trade_id} is {order.status} and cannot fill")
    if quantity <= 0 or quantity > order.remaining_quantity:
        raise InvalidTransition(
            f"fill of {quantity} exceeds the {order.remaining_quantity} shares remaining"
        )
    if price <= 0:
        raise InvalidTransition("a fill needs a positive price")
    if order.side is Side.BUY and price > order.buy_hold_price:
        raise InvalidTransition(f"buy fill at {price} is above the held price {order.hold_price}")
    if order.side is Side.SELL and order.limit_price is not None and price < order.limit_price:
        raise InvalidTransition(f"sell fill at {price} is below the limit {order.limit_price}")
    value = quantity * price
    filled = order.filled_quantity + quantity
    status = Status.EXECUTED if filled == order.quantity else Status.PARTIALLY_EXECUTED
    updated = replace(
        order,
        filled_quantity=filled,
        filled_value=order.filled_value + value,
        status=status,
        updated_at=now,
    )
    if order.side is Side.BUY:
        effect = FillEffect(quantity, price, spent=value, released=quantity * order.buy_hold_price - value)
    else:
        effect = FillEffect(quantity, price, proceeds=value)
    return updated, effect


def close_order(order: Order, status: Status, now: datetime, reason: str | None = None) -> Order:
    """Cancel, expire or reject an open order; its fills stay, its remaining hold is freed
    (the freed amounts are `order.held_cash` / `order.held_shares` before the call)."""
    if status not in CLOSING_STATUSES or not can_transition(order.status, status):
        raise InvalidTransition(f"order {order.trade_id} cannot go from {order.status} to {status}")
    return replace(order, status=status, updated_at=now, reject_reason=reason or order.reject_reason)
