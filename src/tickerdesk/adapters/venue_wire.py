"""Venue messages on the wire: orders, cancels, simulator commands and execution
reports as JSON, the same shapes whichever broker carries them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from tickerdesk.app.ports import ExecutionReport, ReportKind, VenueOrder
from tickerdesk.domain.orders import Side, TimeInForce


def order_to_wire(order: VenueOrder, cumulative: int = 0) -> dict[str, Any]:
    return {
        "tradeId": order.trade_id, "account": order.account, "symbol": order.symbol,
        "side": str(order.side), "quantity": order.quantity, "limitPrice": order.limit_price,
        "timeInForce": str(order.time_in_force), "cumulative": cumulative,
    }


def order_from_wire(data: dict[str, Any]) -> VenueOrder:
    limit = data.get("limitPrice")
    return VenueOrder(
        trade_id=data["tradeId"], account=data["account"], symbol=data["symbol"], side=Side(data["side"]),
        quantity=int(data["quantity"]), limit_price=Decimal(limit) if limit is not None else None,
        time_in_force=TimeInForce(data["timeInForce"]),
    )


def report_to_wire(report: ExecutionReport) -> dict[str, Any]:
    return {
        "executionId": report.execution_id, "tradeId": report.trade_id, "account": report.account,
        "kind": str(report.kind), "lastQuantity": report.last_quantity, "lastPrice": report.last_price,
        "cumulativeQuantity": report.cumulative_quantity, "remainingQuantity": report.remaining_quantity,
        "occurredAt": report.occurred_at, "reason": report.reason,
    }


def report_from_wire(data: dict[str, Any]) -> ExecutionReport:
    price = data.get("lastPrice")
    return ExecutionReport(
        execution_id=data["executionId"], trade_id=data["tradeId"], account=data["account"],
        kind=ReportKind(data["kind"]), last_quantity=int(data["lastQuantity"]),
        last_price=Decimal(price) if price is not None else None,
        cumulative_quantity=int(data["cumulativeQuantity"]), remaining_quantity=int(data["remainingQuantity"]),
        occurred_at=datetime.fromisoformat(data["occurredAt"].replace("Z", "+00:00")), reason=data.get("reason"),
    )
