"""The wire: every JSON form tickerdesk writes or reads, made in this one module.

- `dumps` / `loads`: JSON with exact decimals (numbers, never floats) and RFC 3339
  timestamps; PostgreSQL's jsonb, Redis, RabbitMQ and HTTP all use them.
- `encode_event` / `decode_event`: an event and its envelope `{"id", "type",
  "userId", "occurredAt", "schemaVersion", "data"}`, whose `data` is the API's own
  view (a trade, a balance, a holding), so a notification shows what the API would.
- venue orders and execution reports on the broker.

The one form made elsewhere: the `balance.updated` / `portfolio.updated` envelope a
placement writes is built inside the placement's SQL statement (only it knows the new
balance); `tests/integration/test_codec_sql.py` keeps the two identical.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec
import orjson

from tickerdesk.app.ports import ExecutionReport, Notification, ReportKind, VenueOrder
from tickerdesk.app.views import balance_view, holding_view, rfc3339, trade_view
from tickerdesk.domain.accounting import Balance, Position
from tickerdesk.domain.errors import UnsupportedEvent
from tickerdesk.domain.events import (
    EVENT_TYPES,
    BalanceUpdated,
    Event,
    EventType,
    PortfolioUpdated,
    TradeEvent,
    TradeFilled,
)
from tickerdesk.domain.money import ZERO, plain
from tickerdesk.domain.orders import Order, OrderType, Side, Status, TimeInForce

# -- JSON ------------------------------------------------------------------------


def dumps(value: Any) -> str:
    """JSON with exact decimals (numbers, never floats) and RFC 3339 timestamps."""
    return orjson.dumps(value, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME).decode()


def dumps_bytes(value: Any) -> bytes:
    """`dumps`, as the bytes an HTTP body or a message is made of."""
    return orjson.dumps(value, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME)


_DECODER = msgspec.json.Decoder(float_hook=Decimal)  # every non-integer number exactly, as a Decimal


def loads(text: str | bytes) -> Any:
    return _DECODER.decode(text)


def _default(value: Any) -> Any:
    """orjson (several times faster than the stdlib here) writes what it knows; a Decimal
    goes in as its exact text, a JSON number (`str` of a `plain` one has no exponent), and a
    datetime in our RFC 3339 form (always microseconds, `Z`), not orjson's own."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise TypeError(f"{value} is not a JSON number")
        return orjson.Fragment(str(value))
    if isinstance(value, datetime):
        return rfc3339(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


# -- events ----------------------------------------------------------------------


def encode_event(event: Event) -> dict[str, Any]:
    """The envelope every consumer, inbox row and webhook body holds."""
    return {
        "id": event.id,
        "type": str(event.type),
        "userId": event.user_id,
        "occurredAt": rfc3339(event.occurred_at),
        "schemaVersion": event.schema_version,
        "data": _event_data(event),
    }


def _event_data(event: Event) -> dict[str, Any]:
    if isinstance(event, TradeFilled):
        return {**trade_view(event.order), "lastQuantity": event.last_quantity, "lastPrice": plain(event.last_price)}
    if isinstance(event, TradeEvent):
        return trade_view(event.order)
    if isinstance(event, BalanceUpdated):
        return balance_view(event.user_id, event.balance)
    if isinstance(event, PortfolioUpdated):
        return holding_view(event.position)
    raise UnsupportedEvent(f"no wire form for {type(event).__name__}")


# The envelopes of recently decoded events, by the event object: a relay decodes each
# envelope once, and the consumers that store it again (inbox, webhook deliveries) take
# it back instead of encoding the event anew (see `envelope_of`).
_DECODED: dict[int, tuple[Event, dict[str, Any]]] = {}
_DECODED_KEPT = 4096


def envelope_of(event: Event) -> dict[str, Any]:
    """The event's envelope for a jsonb column: the one it was decoded from if it is
    recent, else `encode_event`'s. The two are equal as JSON values (PostgreSQL keeps
    numbers by value, so text such as 1E-8 and 0.00000001 is the same row)."""
    kept = _DECODED.get(id(event))
    if kept is not None and kept[0] is event:  # the object itself: an id is reused only after it dies
        return kept[1]
    return encode_event(event)


def decode_event(envelope: dict[str, Any]) -> Event:
    """The typed event of an envelope; UnsupportedEvent for a type or version this
    code does not know (a consumer dead-letters it rather than guess)."""
    event = _decode_event(envelope)
    if "schemaVersion" in envelope:  # an envelope from before schema versions is re-encoded with one
        if len(_DECODED) >= _DECODED_KEPT:
            del _DECODED[next(iter(_DECODED))]
        _DECODED[id(event)] = (event, envelope)
    return event


def _decode_event(envelope: dict[str, Any]) -> Event:
    try:
        cls = EVENT_TYPES[EventType(envelope["type"])]
    except (KeyError, ValueError):
        raise UnsupportedEvent(f"unknown event type {envelope.get('type')!r}") from None
    version = envelope.get("schemaVersion", 1)
    if version != cls.schema_version:
        raise UnsupportedEvent(f"{cls.type} schema version {version} is not {cls.schema_version}")
    data = envelope["data"]
    common: dict[str, Any] = {
        "id": str(envelope["id"]),
        "user_id": envelope["userId"],
        "occurred_at": parse_time(envelope["occurredAt"]),
    }
    if issubclass(cls, TradeFilled):
        return cls(**common, order=order_from_view(data), last_quantity=int(data["lastQuantity"]),
                   last_price=Decimal(data["lastPrice"]))
    if issubclass(cls, TradeEvent):
        return cls(**common, order=order_from_view(data))
    if cls is BalanceUpdated:
        return BalanceUpdated(**common, balance=Balance(Decimal(data["availableBalance"]),
                                                        Decimal(data["heldForTrades"])))
    return PortfolioUpdated(**common, position=position_from_view(data))


def order_from_view(view: dict[str, Any]) -> Order:
    """The order a trade view shows (the view carries every field; the exact cost
    of the fills is its `totalPrice` once any share filled)."""
    filled = int(view["filledQuantity"])
    return Order(
        trade_id=str(view["tradeId"]),
        user_id=view["userId"],
        symbol=view["stockSymbol"],
        side=Side(view["tradeType"]),
        order_type=OrderType(view["orderType"]),
        time_in_force=TimeInForce(view["timeInForce"]),
        quantity=int(view["quantity"]),
        limit_price=_decimal(view["limitPrice"]),
        hold_price=_decimal(view["holdPrice"]),
        status=Status(view["status"]),
        created_at=parse_time(view["createdAt"]),
        updated_at=parse_time(view["updatedAt"]),
        filled_quantity=filled,
        filled_value=Decimal(view["totalPrice"]) if filled else ZERO,
        cancel_requested=bool(view["cancelRequested"]),
        client_order_id=view["clientOrderId"],
        reject_reason=view["rejectReason"],
    )


def position_from_view(view: dict[str, Any]) -> Position:
    return Position(view["stockSymbol"], int(view["quantity"]), int(view["heldQuantity"]),
                    Decimal(view["averagePurchasePrice"]), Decimal(view["realizedPnl"]))


def encode_notification(notification: Notification) -> dict[str, Any]:
    """A notification as the inbox, the streams and the hub show it: the envelope and its `seq`."""
    return {"seq": notification.seq, **encode_event(notification.event)}


def decode_notification(body: dict[str, Any]) -> Notification:
    return Notification(int(body["seq"]), decode_event(body))


# -- the venue line ----------------------------------------------------------------


def order_to_wire(order: VenueOrder, cumulative: int = 0) -> dict[str, Any]:
    return {
        "tradeId": order.trade_id, "account": order.account, "symbol": order.symbol,
        "side": str(order.side), "quantity": order.quantity, "limitPrice": order.limit_price,
        "timeInForce": str(order.time_in_force), "acceptedAt": order.accepted_at, "cumulative": cumulative,
    }


def order_from_wire(data: dict[str, Any]) -> VenueOrder:
    return VenueOrder(
        trade_id=data["tradeId"], account=data["account"], symbol=data["symbol"], side=Side(data["side"]),
        quantity=int(data["quantity"]), limit_price=_decimal(data.get("limitPrice")),
        time_in_force=TimeInForce(data["timeInForce"]), accepted_at=parse_time(data["acceptedAt"]),
    )


def report_to_wire(report: ExecutionReport) -> dict[str, Any]:
    return {
        "executionId": report.execution_id, "tradeId": report.trade_id, "account": report.account,
        "kind": str(report.kind), "lastQuantity": report.last_quantity, "lastPrice": report.last_price,
        "cumulativeQuantity": report.cumulative_quantity, "remainingQuantity": report.remaining_quantity,
        "occurredAt": report.occurred_at, "reason": report.reason,
    }


def report_from_wire(data: dict[str, Any]) -> ExecutionReport:
    return ExecutionReport(
        execution_id=data["executionId"], trade_id=data["tradeId"], account=data["account"],
        kind=ReportKind(data["kind"]), last_quantity=int(data["lastQuantity"]),
        last_price=_decimal(data.get("lastPrice")),
        cumulative_quantity=int(data["cumulativeQuantity"]), remaining_quantity=int(data["remainingQuantity"]),
        occurred_at=parse_time(data["occurredAt"]), reason=data.get("reason"),
    )
