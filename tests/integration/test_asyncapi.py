"""/asyncapi.json: served, whole (every `$ref` resolves), a message for every user-facing
event type, and real notifications and webhook bodies valid against their messages."""

from typing import Any

import pytest
from jsonschema import Draft202012Validator, ValidationError

from tests.conftest import set_price
from tickerdesk.domain.events import USER_FACING


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def _messages(document: dict[str, Any], channel: str) -> dict[str, dict[str, Any]]:
    """The channel's messages by their name (the event type)."""
    found = {}
    for ref in document["channels"][channel]["messages"].values():
        message = _resolve(document, ref["$ref"])
        found[message["name"]] = message
    return found


def _validator(document: dict[str, Any], message: dict[str, Any]) -> Draft202012Validator:
    schema = {**message["payload"], "components": document["components"]}
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@pytest.fixture
async def document(client) -> dict[str, Any]:
    response = await client.get("/asyncapi.json")  # no token
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


async def test_the_document_is_whole_and_names_every_event(document, client):
    assert document["asyncapi"].startswith("3.")
    refs = _refs(document)
    assert len(refs) > 50
    for ref in refs:
        _resolve(document, ref)
    facing = {str(t) for t in USER_FACING}
    assert set(_messages(document, "stream")) == facing
    assert set(_messages(document, "webhook")) == facing
    assert set(_messages(document, "websocket")) == facing | {"auth", "connected", "heartbeat"}
    addresses = {name: channel["address"] for name, channel in document["channels"].items()}
    assert addresses == {"websocket": "/notifications/ws", "stream": "/notifications/stream", "webhook": None}
    webhook_headers = _messages(document, "webhook")["trade.executed"]["headers"]["properties"]
    assert {"Tickerdesk-Signature", "Tickerdesk-Timestamp", "Tickerdesk-Event", "Tickerdesk-Delivery"} <= set(
        webhook_headers)
    assert "/asyncapi.json" not in (await client.get("/openapi.json")).json()["paths"]


async def test_real_notifications_and_webhook_bodies_match_their_messages(document, trader, symbol, client):
    alice = await trader(10_000)
    stock = await symbol("100")
    filled = await alice.place(stockSymbol=stock, quantity=10, orderType="limit", limitPrice=99, timeInForce="gtc")
    await set_price(client, stock, "98", liquidity=4)  # a partial fill, then the rest
    await set_price(client, stock, "97")
    assert (await alice.trade(filled["tradeId"]))["status"] == "executed"
    resting = await alice.place(stockSymbol=stock, quantity=1, orderType="limit", limitPrice=50)
    await alice.cancel(resting["tradeId"])
    assert (await alice.trade(resting["tradeId"]))["status"] == "canceled"

    items = (await alice.get("/notifications", limit=500))["items"]
    seen = {item["type"] for item in items}
    assert {"balance.updated", "trade.placed", "trade.partiallyExecuted", "trade.executed", "trade.canceled",
            "portfolio.updated"} <= seen
    streamed, webhook = _messages(document, "stream"), _messages(document, "webhook")
    for item in items:
        _validator(document, streamed[item["type"]]).validate(item)
        body = {key: value for key, value in item.items() if key != "seq"}  # a webhook body: the envelope
        _validator(document, webhook[item["type"]]).validate(body)
        with pytest.raises(ValidationError):  # a body is not a notification, and the reverse
            _validator(document, streamed[item["type"]]).validate(body)
        with pytest.raises(ValidationError):
            _validator(document, webhook[item["type"]]).validate(item)

    # It can fail: a missing field, a money amount as a string, another type's data.
    trade = next(item for item in items if item["type"] == "trade.executed")
    check = _validator(document, streamed["trade.executed"])
    for broken in ({k: v for k, v in trade.items() if k != "occurredAt"},
                   {**trade, "data": {**trade["data"], "lastPrice": str(trade["data"]["lastPrice"])}},
                   {**trade, "data": {k: v for k, v in trade["data"].items() if k != "lastQuantity"}},
                   {**trade, "type": "balance.updated"}):
        with pytest.raises(ValidationError):
            check.validate(broken)
    balance = next(item for item in items if item["type"] == "balance.updated")
    with pytest.raises(ValidationError):
        _validator(document, streamed["trade.placed"]).validate({**balance, "type": "trade.placed"})


async def test_the_websocket_control_messages_match(document):
    messages = _messages(document, "websocket")
    _validator(document, messages["auth"]).validate({"token": "a.jwt.value"})
    _validator(document, messages["connected"]).validate({"type": "connected", "userId": "alice"})
    _validator(document, messages["heartbeat"]).validate({"type": "heartbeat"})
    with pytest.raises(ValidationError):
        _validator(document, messages["auth"]).validate({"tok": "x"})
