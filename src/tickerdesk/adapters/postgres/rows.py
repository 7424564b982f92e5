"""Rows to domain objects and back."""

from __future__ import annotations

from typing import Any

from tickerdesk.domain.accounting import Balance, Position
from tickerdesk.domain.orders import Order, OrderType, Side, Status, TimeInForce

TRADE_COLUMNS = """user_id, trade_id::text AS trade_id, client_order_id, symbol, side, order_type,
    time_in_force, quantity, limit_price, hold_price, status, filled_quantity, filled_value,
    cancel_requested, reject_reason, created_at, updated_at"""


def order_from_row(row: Any) -> Order:
    return Order(
        trade_id=row["trade_id"],
        user_id=row["user_id"],
        symbol=row["symbol"],
        side=Side(row["side"]),
        order_type=OrderType(row["order_type"]),
        time_in_force=TimeInForce(row["time_in_force"]),
        quantity=row["quantity"],
        limit_price=row["limit_price"],
        hold_price=row["hold_price"],
        status=Status(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        filled_quantity=row["filled_quantity"],
        filled_value=row["filled_value"],
        cancel_requested=row["cancel_requested"],
        client_order_id=row["client_order_id"],
        reject_reason=row["reject_reason"],
    )


def balance_from_row(row: Any | None) -> Balance:
    return Balance(row["available"], row["held"]) if row else Balance()


def position_from_row(symbol: str, row: Any | None) -> Position:
    if row is None:
        return Position(symbol)
    return Position(
        symbol=symbol,
        quantity=row["quantity"],
        held_quantity=row["held_quantity"],
        average_price=row["average_price"],
        realized_pnl=row["realized_pnl"],
    )
