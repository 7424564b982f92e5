"""Typed results: frozen dataclasses with `Decimal` money and `int` quantities, read from
the exact JSON (numbers parsed as `Decimal`, never through a float)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from tickerdesk_client.errors import TickerdeskError, error_from


def loads(text: str) -> Any:
    return json.loads(text, parse_float=Decimal)


def _money(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise TypeError(f"not an amount: {value!r}")
    return Decimal(value)


def _money_or_none(value: Any) -> Decimal | None:
    return None if value is None else _money(value)


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Balance:
    user_id: str
    available: Decimal
    held: Decimal
    total: Decimal

    @classmethod
    def parse(cls, d: dict[str, Any]) -> Balance:
        return cls(d["userId"], _money(d["availableBalance"]), _money(d["heldForTrades"]), _money(d["totalBalance"]))


@dataclass(frozen=True)
class Holding:
    symbol: str
    quantity: int
    held_quantity: int
    average_price: Decimal
    realized_pnl: Decimal
    current_price: Decimal | None
    market_value: Decimal | None
    unrealized_pnl: Decimal | None

    @classmethod
    def parse(cls, d: dict[str, Any]) -> Holding:
        return cls(d["stockSymbol"], int(d["quantity"]), int(d["heldQuantity"]), _money(d["averagePurchasePrice"]),
                   _money(d["realizedPnl"]), _money_or_none(d.get("currentPrice")),
                   _money_or_none(d.get("marketValue")), _money_or_none(d.get("unrealizedPnl")))


@dataclass(frozen=True)
class Portfolio:
    user_id: str
    holdings: tuple[Holding, ...]
    total_value: Decimal

    @classmethod
    def parse(cls, d: dict[str, Any]) -> Portfolio:
        return cls(d["userId"], tuple(Holding.parse(h) for h in d["holdings"]), _money(d["totalValue"]))


@dataclass(frozen=True)
class Stock:
    symbol: str
    name: str
    lot_size: int
    active: bool
    last_price: Decimal | None

    @classmethod
    def parse(cls, d: dict[str, Any]) -> Stock:
        return cls(d["symbol"], d["name"], int(d["lotSize"]), bool(d["active"]), _money_or_none(d["lastPrice"]))


@dataclass(frozen=True)
class Execution:
    execution_id: str
    quantity: int
    price: Decimal
    executed_at: datetime

    @classmethod
    def parse(cls, d: dict[str, Any]) -> Execution:
        return cls(d["executionId"], int(d["quantity"]), _money(d["price"]), _time(d["executedAt"]))


@dataclass(frozen=True)
class Trade:
    trade_id: str
    user_id: str
    symbol: str
    side: str  # "buy" | "sell"
    order_type: str  # "market" | "limit"
    time_in_force: str
    quantity: int
    status: str
    limit_price: Decimal | None
    hold_price: Decimal | None
    price_per_share: Decimal | None
    total_price: Decimal | None
    filled_quantity: int
    average_fill_price: Decimal | None
    cancel_requested: bool
    client_order_id: str | None
    reject_reason: str | None
    created_at: datetime
    updated_at: datetime
    executions: tuple[Execution, ...] | None = None  # only from get_trade()

    @property
    def is_open(self) -> bool:
        return self.status in ("pending", "partiallyExecuted")

    @classmethod
    def parse(cls, d: dict[str, Any]) -> Trade:
        executions = d.get("executions")
        return cls(
            d["tradeId"], d["userId"], d["stockSymbol"], d["tradeType"], d["orderType"], d["timeInForce"],
            int(d["quantity"]), d["status"], _money_or_none(d.get("limitPrice")), _money_or_none(d.get("holdPrice")),
            _money_or_none(d.get("pricePerShare")), _money_or_none(d.get("totalPrice")), int(d["filledQuantity"]),
            _money_or_none(d.get("averageFillPrice")), bool(d["cancelRequested"]), d.get("clientOrderId"),
            d.get("rejectReason"), _time(d["createdAt"]), _time(d["updatedAt"]),
            None if executions is None else tuple(Execution.parse(e) for e in executions),
        )


@dataclass(frozen=True)
class Preview:
    """What a placement would hold and cost, and the refusal it would get now (`error`)."""

    ok: bool
    hold_amount: Decimal | None
    held_shares: int | None
    hold_price: Decimal | None
    estimated_cost: Decimal | None
    available: Decimal
    error: TickerdeskError | None

    @classmethod
    def parse(cls, d: dict[str, Any]) -> Preview:
        problem = d.get("error")
        error = None if problem is None else error_from(int(problem["status"]), problem)
        held = d.get("heldShares")
        return cls(bool(d["ok"]), _money_or_none(d.get("holdAmount")), None if held is None else int(held),
                   _money_or_none(d.get("holdPrice")), _money_or_none(d.get("estimatedCost")),
                   _money(d["available"]), error)


@dataclass(frozen=True)
class Notification:
    """One event of the user's stream. `data` is the event's JSON (numbers as Decimal):
    a trade for `trade.*`, a balance for `balance.updated`, a holding for `portfolio.updated`."""

    seq: int
    id: str
    type: str
    user_id: str
    occurred_at: datetime
    data: dict[str, Any]

    @property
    def trade(self) -> Trade | None:
        return Trade.parse(self.data) if self.type.startswith("trade.") else None

    @classmethod
    def parse(cls, d: dict[str, Any]) -> Notification:
        return cls(int(d["seq"]), d["id"], d["type"], d["userId"], _time(d["occurredAt"]), d["data"])
