"""Builders for domain objects used across the unit tests (pure, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from tickerdesk.domain.orders import Order, OrderType, Side, Status, TimeInForce

T0 = datetime(2024, 5, 1, 14, 30, 0, 123456, tzinfo=UTC)
T1 = datetime(2024, 5, 1, 14, 31, 0, tzinfo=UTC)


def make_order(
    *,
    side: Side = Side.BUY,
    order_type: OrderType = OrderType.LIMIT,
    quantity: int = 10,
    limit_price: Decimal | str | None = "100",
    hold_price: Decimal | str | None = "__same__",
    status: Status = Status.PENDING,
    **extra,
) -> Order:
    limit = Decimal(limit_price) if limit_price is not None else None
    if hold_price == "__same__":
        hold = limit if side is Side.BUY else None
    else:
        hold = Decimal(hold_price) if hold_price is not None else None
    return Order(
        trade_id=extra.pop("trade_id", "trade-1"),
        user_id=extra.pop("user_id", "user-1"),
        symbol=extra.pop("symbol", "AAPL"),
        side=side,
        order_type=order_type,
        time_in_force=extra.pop("time_in_force", TimeInForce.DAY),
        quantity=quantity,
        limit_price=limit,
        hold_price=hold,
        status=status,
        created_at=extra.pop("created_at", T0),
        updated_at=extra.pop("updated_at", T0),
        **extra,
    )
