"""The AsyncAPI document of what tickerdesk pushes: the WebSocket `/notifications/ws`,
the Server-Sent Events `/notifications/stream`, and the webhook deliveries (see
`tickerdesk.adapters.webhook_signatures` for how they are signed: Standard Webhooks),
served at `/asyncapi.json`.

One message per user-facing event type and transport. The payload schemas are the
notification models of `tickerdesk.entrypoints.http.responses` (one definition with the
OpenAPI document): the envelope of `tickerdesk.codec` with `seq` on the streams, the
same envelope without `seq` as a webhook body. Money is an exact JSON number.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any, get_args

from fastapi import FastAPI
from pydantic.json_schema import models_json_schema

from tickerdesk import __version__
from tickerdesk.domain.events import USER_FACING, EventType
from tickerdesk.entrypoints.http.jsonio import ExactJSONResponse
from tickerdesk.entrypoints.http.responses import (
    BalanceNotification,
    FillNotification,
    PortfolioNotification,
    TradeNotification,
)

PATH = "/asyncapi.json"
SCHEMAS = "#/components/schemas/"
MODELS = (TradeNotification, FillNotification, BalanceNotification, PortfolioNotification)
ABOUT = {
    EventType.TRADE_PLACED: "An order was accepted; its cash or shares are held.",
    EventType.TRADE_PARTIALLY_EXECUTED: "Some shares of an order filled: the trade as it is now, and this fill.",
    EventType.TRADE_EXECUTED: "The last shares of an order filled: the trade as it is now, and this fill.",
    EventType.TRADE_CANCELED: "The venue confirmed a cancel; what was still held is released.",
    EventType.TRADE_EXPIRED: "A day order expired at the close; what was still held is released.",
    EventType.TRADE_REJECTED: "The venue rejected an order (`rejectReason`); its hold is released.",
    EventType.BALANCE_UPDATED: "The balance changed: available, held for trades, total.",
    EventType.PORTFOLIO_UPDATED: "A holding changed: quantity, shares held by open sells, average, realized P&L.",
}
STANDARD_SIGNATURE = "v1,[A-Za-z0-9+/]{43}="  # base64 of a 32-byte HMAC-SHA256
WEBHOOK_HEADERS = {
    "type": "object",
    "description": "Signed as the Standard Webhooks specification says (https://www.standardwebhooks.com): "
                   "verify with a `standardwebhooks` library and the webhook's `whsec_` secret.",
    "required": ["Content-Type", "webhook-id", "webhook-timestamp", "webhook-signature", "Tickerdesk-Event",
                 "Tickerdesk-Delivery"],
    "properties": {
        "Content-Type": {"type": "string", "const": "application/json"},
        "webhook-id": {"type": "string", "format": "uuid",
                       "description": "the event's `id`: the same on every retry; deduplicate by it"},
        "webhook-timestamp": {"type": "string", "pattern": "^[0-9]+$",
                              "description": "Unix seconds when this attempt was signed; refuse ones more than "
                                             "five minutes from your clock"},
        "webhook-signature": {"type": "string",
                              "pattern": f"^{STANDARD_SIGNATURE}( {STANDARD_SIGNATURE})*$",
                              "description": "space-separated `v1,` + base64 HMAC-SHA256 over "
                                             "`{webhook-id}.{webhook-timestamp}.{raw body}`, keyed with the bytes "
                                             "the base64 after `whsec_` in the secret encodes (a secret issued "
                                             "before Standard Webhooks is URL-safe base64: `-` is `+`, `_` is `/`, "
                                             "pad with `=`); accept if any matches"},
        "Tickerdesk-Event": {"type": "string", "description": "the event's type, as `type` in the body"},
        "Tickerdesk-Delivery": {"type": "string", "description": "the delivery's id: the same on every retry"},
        "Tickerdesk-Timestamp": {"type": "string", "pattern": "^[0-9]+$", "deprecated": True,
                                 "description": "Deprecated (removed in the next release; use "
                                                "`webhook-timestamp`): the same value as `webhook-timestamp`"},
        "Tickerdesk-Signature": {"type": "string", "pattern": "^v1=[0-9a-f]{64}(,v1=[0-9a-f]{64})*$",
                                 "deprecated": True,
                                 "description": "Deprecated (removed in the next release; verify "
                                                "`webhook-signature`): `v1=` hex HMAC-SHA256 keyed with the whole "
                                                "secret string over `{Tickerdesk-Timestamp}.{raw body}`"},
    },
}


def _model_of(event_type: EventType) -> str:
    for model in MODELS:
        if str(event_type) in get_args(model.model_fields["type"].annotation):
            return model.__name__
    raise LookupError(f"no notification model carries {event_type}")  # pragma: no cover: a test proves it


def _name(event_type: EventType) -> str:
    return "".join(part[:1].upper() + part[1:] for part in str(event_type).split("."))


def _schemas() -> dict[str, Any]:
    """The notification models, and the webhook bodies: the same without `seq`."""
    _, top = models_json_schema([(m, "serialization") for m in MODELS], ref_template=SCHEMAS + "{model}")
    schemas: dict[str, Any] = top["$defs"]
    for model in MODELS:
        body = copy.deepcopy(schemas[model.__name__])
        body["properties"].pop("seq")
        body["required"] = [name for name in body["required"] if name != "seq"]
        body["title"] = "Webhook" + model.__name__.removesuffix("Notification")
        body["description"] = body.get("description", "") + " A webhook body: the envelope without `seq`."
        schemas[body["title"]] = body
    return schemas


def _payload(schema: str, event_type: EventType) -> dict[str, Any]:
    return {"allOf": [{"$ref": SCHEMAS + schema}, {"properties": {"type": {"const": str(event_type)}}}]}


def _messages() -> dict[str, Any]:
    messages: dict[str, Any] = {
        "Auth": {
            "name": "auth", "title": "Authenticate", "contentType": "application/json",
            "summary": "The first message, unless the upgrade carried `Authorization: Bearer <JWT>`; the socket "
                       "closes with 4401 if it is missing or invalid (4429 after too many failures).",
            "payload": {"type": "object", "required": ["token"], "additionalProperties": False,
                        "properties": {"token": {"type": "string", "description": "a JWT, as in Authorization"}}},
        },
        "Connected": {
            "name": "connected", "title": "Connected", "contentType": "application/json",
            "summary": "Subscribed: from here on nothing is missed.",
            "payload": {"type": "object", "required": ["type", "userId"], "additionalProperties": False,
                        "properties": {"type": {"const": "connected"}, "userId": {"type": "string"}}},
        },
        "Heartbeat": {
            "name": "heartbeat", "title": "Heartbeat", "contentType": "application/json",
            "summary": "Nothing happened for a heartbeat interval.",
            "payload": {"type": "object", "required": ["type"], "additionalProperties": False,
                        "properties": {"type": {"const": "heartbeat"}}},
        },
    }
    for event_type in sorted(USER_FACING):
        model = _model_of(event_type)
        messages[_name(event_type)] = {
            "name": str(event_type), "title": str(event_type), "summary": ABOUT[event_type],
            "contentType": "application/json", "payload": _payload(model, event_type),
        }
        messages["Webhook" + _name(event_type)] = {
            "name": str(event_type), "title": f"{event_type} (webhook)", "summary": ABOUT[event_type],
            "contentType": "application/json", "headers": WEBHOOK_HEADERS,
            "payload": _payload("Webhook" + model.removesuffix("Notification"), event_type),
        }
    return messages


def _refs(names: list[str]) -> dict[str, Any]:
    return {name: {"$ref": "#/components/messages/" + name} for name in names}


@cache
def document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document, as a dict (made once)."""
    events = [_name(t) for t in sorted(USER_FACING)]
    after = {"type": "integer", "minimum": 0, "description": "resume after this `seq`"}
    channels = {
        "websocket": {
            "address": "/notifications/ws",
            "title": "Notifications over a WebSocket",
            "description": "Authenticate with `Authorization: Bearer <JWT>` on the upgrade, or with `auth` as the "
                           "first message. Then `connected`, the backlog after `?after=<seq>`, and every new "
                           "notification in `seq` order, exactly once; `heartbeat` when idle.",
            "messages": _refs(["Auth", "Connected", "Heartbeat", *events]),
            "bindings": {"ws": {"method": "GET", "query": {"type": "object", "properties": {"after": after}}}},
        },
        "stream": {
            "address": "/notifications/stream",
            "title": "Notifications as Server-Sent Events",
            "description": "`Authorization: Bearer <JWT>`. Each notification as `id: <seq>`, `event: <type>` and "
                           "`data: <the message>`; comments (`: connected`, `: heartbeat`) otherwise. Reconnecting "
                           "with `Last-Event-ID` (or `?after=`) resumes after that `seq`.",
            "messages": _refs(events),
            "bindings": {"http": {"method": "GET", "query": {"type": "object", "properties": {"after": after}}}},
        },
        "webhook": {
            "address": None,
            "title": "Webhook deliveries",
            "description": "A POST to the URL registered with `POST /webhooks`, once per event per webhook, at "
                           "least once (deduplicate by `webhook-id`, the event's `id`), not necessarily in order "
                           "(order by `occurredAt`). Any 2xx within the timeout counts as delivered; anything else "
                           "is retried with back-off. Signed as Standard Webhooks: verify `webhook-signature` "
                           "(with a `standardwebhooks` library) before trusting the body. `Tickerdesk-Signature` "
                           "and `Tickerdesk-Timestamp` are deprecated and go in the next release.",
            "messages": _refs(["Webhook" + name for name in events]),
            "bindings": {"http": {"method": "POST"}},
        },
    }

    def operation(action: str, channel: str, names: list[str], summary: str) -> dict[str, Any]:
        return {"action": action, "channel": {"$ref": f"#/channels/{channel}"}, "summary": summary,
                "messages": [{"$ref": f"#/channels/{channel}/messages/{name}"} for name in names]}

    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "tickerdesk notifications",
            "version": __version__,
            "description": "What tickerdesk sends a user as it happens: the same notifications as "
                           "`GET /notifications` (see /openapi.json) over a WebSocket or Server-Sent Events, and "
                           "the same envelope (without `seq`) as signed webhook deliveries. Amounts are exact "
                           "decimals in JSON numbers: parse them as decimals, not floats.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": {
            "authenticate": operation("receive", "websocket", ["Auth"], "The client authenticates."),
            "sendOverWebSocket": operation("send", "websocket", ["Connected", "Heartbeat", *events],
                                           "Notifications and control messages."),
            "sendAsEvents": operation("send", "stream", events, "Notifications as Server-Sent Events."),
            "deliverWebhook": operation("send", "webhook", ["Webhook" + name for name in events],
                                        "A POST to the webhook's URL, signed as Standard Webhooks."),
        },
        "components": {"schemas": _schemas(), "messages": _messages()},
    }


def install(app: FastAPI) -> None:
    """Serve the document beside /openapi.json: public, and not in the OpenAPI document."""

    @app.get(PATH, include_in_schema=False)
    async def asyncapi() -> ExactJSONResponse:
        return ExactJSONResponse(document())
