"""The OpenAPI document is exact: what a client generator reads is what the API does.

- Every `$ref` resolves, errors are problem+json with their codes, and the bearer scheme is
  on exactly the routes that answer 401 without a token.
- Real answers validate against the document: a few with jsonschema directly, then every
  operation's success and refusals in one scenario, and requests schemathesis generates
  from the document itself, each checked by schemathesis (status documented, content type,
  headers, body schema).

Requests go through the `client` fixture (the app on the session's event loop and
database); schemathesis only makes the cases and judges the answers.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

import httpx
import jsonschema
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import ADMIN, SECRET, bearer, exact
from tests.integration.notification_servers import Browser
from tickerdesk.app.contact_verification import code_hash
from tickerdesk.app.unsubscribe_links import make_token
from tickerdesk.config import Settings
from tickerdesk.domain.events import USER_FACING, EventType
from tickerdesk.domain.instruments import Instrument
from tickerdesk.domain.notifications import ContactKind
from tickerdesk.entrypoints.http.app import create_app

DOCUMENT = create_app(Settings(jwt_secret=SECRET)).openapi()
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
PUBLIC = {"GET /healthz", "GET /readyz", "GET /metrics", "GET /stocks", "GET /stocks/{symbol}",
          "GET /stocks/{symbol}/bars", "GET /notifications/unsubscribe", "POST /notifications/unsubscribe"}
PROBLEM = "application/problem+json"


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, operation) for path, methods in DOCUMENT["paths"].items()
            for method, operation in methods.items()]


def resolve(pointer: str) -> Any:
    assert pointer.startswith("#/"), pointer
    node: Any = DOCUMENT
    for part in pointer[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in references(v)]
    if isinstance(node, list):
        return [r for v in node for r in references(v)]
    return []


def validator_for(method: str, path: str, status: int, media_type: str = "application/json") -> jsonschema.Validator:
    schema = DOCUMENT["paths"][path][method.lower()]["responses"][str(status)]["content"][media_type]["schema"]
    root = {**schema, "components": DOCUMENT["components"]}  # "#/components/..." resolves against the root
    return jsonschema.Draft202012Validator(root, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


# -- the document ---------------------------------------------------------------------


async def test_the_served_document_is_the_one_tested_and_every_reference_resolves(client):
    served = (await client.get("/openapi.json")).json()
    assert served == json.loads(json.dumps(DOCUMENT))
    found = references(DOCUMENT)
    assert len(found) > 100
    for ref in found:
        assert isinstance(resolve(ref), dict), ref
    assert "HTTPValidationError" not in json.dumps(DOCUMENT) and "#/$defs/" not in json.dumps(DOCUMENT)
    # The request bodies are components of their own, their enums with them.
    place = DOCUMENT["paths"]["/trade/place"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert resolve(place["$ref"])["properties"]["tradeType"] == {"$ref": "#/components/schemas/Side"}


def test_every_answer_has_a_schema_and_every_refusal_is_a_problem_with_its_codes():
    for method, path, operation in operations():
        for status, answer in operation["responses"].items():
            content = answer.get("content", {})
            if 400 <= int(status) < 500:
                assert list(content) == [PROBLEM], (method, path, status)
                schema = content[PROBLEM]["schema"]
                assert schema["allOf"][0] == {"$ref": "#/components/schemas/Problem"}
                assert schema["allOf"][1]["properties"]["code"]["enum"], (method, path, status)
            elif status != "204":
                assert content and all(c["schema"] for c in content.values()), (method, path, status)
        assert "400" in operation["responses"], (method, path)  # a parameter it cannot take, on any route
    place = DOCUMENT["paths"]["/trade/place"]["post"]["responses"]
    assert set(place["422"]["content"][PROBLEM]["schema"]["allOf"][1]["properties"]["code"]["enum"]) == {
        "invalid_request", "unknown_symbol", "insufficient_funds", "insufficient_shares", "price_out_of_band"}
    assert place["409"]["content"][PROBLEM]["schema"]["allOf"][1]["properties"]["code"]["enum"] == [
        "idempotency_conflict"]
    assert {"401", "429", "413"} <= set(place) and "403" not in place
    assert "403" in DOCUMENT["paths"]["/admin/deposits"]["post"]["responses"]
    # Each notification type has its envelope, told apart by `type`.
    page = DOCUMENT["components"]["schemas"]["NotificationPage"]["properties"]["items"]["items"]
    assert set(page["discriminator"]["mapping"]) == {str(t) for t in USER_FACING}
    # Money is a JSON number, never a string.
    balance = DOCUMENT["components"]["schemas"]["Balance"]["properties"]
    assert balance["availableBalance"] == {"type": "number"}


async def test_the_bearer_scheme_is_on_exactly_the_routes_that_need_a_token(client, runtime):
    assert DOCUMENT["components"]["securitySchemes"] == {"bearer": {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": DOCUMENT["components"]["securitySchemes"]["bearer"]["description"]}}
    assert not any(path.startswith(("/docs", "/redoc", "/openapi")) for path in DOCUMENT["paths"])
    api = Api(client)
    for method, path, operation in operations():
        label = f"{method} {path}"
        assert operation.get("security") == (None if label in PUBLIC else [{"bearer": []}]), label
        ids = {name: str(uuid.uuid4()) for name in ("tradeId", "webhookId", "subscriptionId")
               if "{" + name + "}" in path}
        ids |= {"symbol": "AAPL"} if "{symbol}" in path else {}
        case = SCHEMA[path][method].Case(path_parameters=ids)  # no token
        if label == "GET /notifications/stream" or label in PUBLIC:
            continue  # the stream would answer forever; the public ones are called in the scenario below
        response = await api.send(case)
        assert response.status_code == 401, (label, response.status_code)
        assert response.headers["www-authenticate"] == "Bearer"
    response = await client.get("/notifications/stream")
    assert response.status_code == 401 and response.headers["content-type"] == PROBLEM
    link = {"token": make_token(runtime.services.notifications.secret, "someone", EventType.TRADE_EXPIRED)}
    for label in PUBLIC:
        method, path = label.split()
        params = link if "unsubscribe" in path else None  # an email's link: the token is its authentication
        assert (await client.request(method, path.replace("{symbol}", "AAPL"), params=params)).status_code == 200, label


async def test_real_answers_validate_against_their_documented_schemas(client, trader, symbol):
    alice = await trader(1000)
    stock = await symbol("50")
    placed = await client.post("/trade/place", headers=alice.headers,
                               json={"stockSymbol": stock, "quantity": 2, "tradeType": "buy", "limitPrice": "49.5"})
    assert placed.status_code == 201, placed.text
    trade = exact(placed)
    validator_for("POST", "/trade/place", 201).validate(trade)
    assert isinstance(trade["holdPrice"], Decimal)  # a JSON number on the wire
    balance = await client.get("/balance", headers=alice.headers)
    validator_for("GET", "/balance", 200).validate(exact(balance))
    refused = await client.post("/trade/place", headers=alice.headers,
                                json={"stockSymbol": stock, "quantity": 1000, "tradeType": "buy", "limitPrice": 50})
    assert refused.status_code == 422 and refused.headers["content-type"] == PROBLEM
    validator_for("POST", "/trade/place", 422, PROBLEM).validate(refused.json())
    # The schemas are strict enough to fail: money as a string, a missing or unknown field, a code not listed.
    trade_schema = validator_for("POST", "/trade/place", 201)
    assert not trade_schema.is_valid({**trade, "pricePerShare": "49.5"})
    assert not trade_schema.is_valid({k: v for k, v in trade.items() if k != "status"})
    assert not trade_schema.is_valid({**trade, "surprise": 1})
    assert not validator_for("POST", "/trade/place", 422, PROBLEM).is_valid({**refused.json(), "code": "not_found"})


# -- every operation, answered for real and judged by schemathesis ----------------------


class Api:
    """Sends a case through the test client and has schemathesis judge the answer."""

    def __init__(self, client: httpx.AsyncClient):
        self.client = client
        self.answered: set[tuple[str, int]] = set()

    async def send(self, case: schemathesis.Case) -> httpx.Response:
        sent = case.as_transport_kwargs(base_url=str(self.client.base_url).rstrip("/"))
        body = {"json": sent["json"]} if "json" in sent else {"content": sent["data"]} if "data" in sent else {}
        response = await self.client.request(sent["method"], sent["url"], params=sent.get("params"),
                                             headers=sent["headers"], **body)
        case.validate_response(response, checks=CHECKS)
        self.answered.add((case.operation.label, response.status_code))
        return response

    async def call(self, method: str, path: str, expect: int, *, token: dict[str, str], path_parameters=None,
                   query=None, body: Any = schemathesis.generation.case.NOT_SET,
                   headers: dict[str, str] | None = None) -> Any:
        operation = SCHEMA[path][method]
        case = operation.Case(path_parameters=path_parameters, query=query, headers={**token, **(headers or {})},
                              body=body, media_type=None if body is schemathesis.generation.case.NOT_SET
                              else "application/json")
        response = await self.send(case)
        assert response.status_code == expect, (method, path, response.status_code, response.text)
        return exact(response) if "json" in response.headers.get("content-type", "") else response.text


async def test_every_operation_answers_as_documented(client, runtime, trader, symbol, live_url):
    api = Api(client)
    alice, poor, hooker = await trader(), await trader(), await trader()
    user, admin = alice.headers, ADMIN
    stock = await symbol("100")

    # Funding: a new instruction, its retry, a different one under the same reference, an overdraft.
    reference = f"wire-{uuid.uuid4().hex[:8]}"
    fund = {"userId": alice.user_id, "amount": 10_000, "reference": reference}
    await api.call("POST", "/admin/deposits", 201, token=admin, body=fund)
    await api.call("POST", "/admin/deposits", 200, token=admin, body=fund)
    await api.call("POST", "/admin/deposits", 409, token=admin, body={**fund, "amount": 5})
    withdrawal = {"userId": alice.user_id, "amount": 1, "reference": f"out-{uuid.uuid4().hex[:8]}"}
    await api.call("POST", "/admin/withdrawals", 201, token=admin, body=withdrawal)
    await api.call("POST", "/admin/withdrawals", 200, token=admin, body=withdrawal)
    await api.call("POST", "/admin/withdrawals", 422, token=admin, body={"userId": poor.user_id, "amount": 1})
    await api.call("POST", "/admin/deposits", 403, token=user, body=fund)
    await api.call("POST", "/admin/deposits", 422, token=admin, body={"userId": alice.user_id, "amount": -1})

    # Orders: rest, fill in part, cancel; a market buy that fills; a sell that fills.
    await api.call("PUT", "/sim/stocks/{symbol}", 200, token=admin, path_parameters={"symbol": stock},
                   body={"price": 100})
    await api.call("PUT", "/sim/stocks/{symbol}", 422, token=admin, path_parameters={"symbol": "NOPE"},
                   body={"price": 100})
    order = {"stockSymbol": stock, "quantity": 10, "tradeType": "buy", "limitPrice": "99.5", "timeInForce": "gtc"}
    key = {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}
    trade = await api.call("POST", "/trade/place", 201, token=user, body=order, headers=key)
    replayed = await api.call("POST", "/trade/place", 201, token=user, body=order, headers=key)
    assert replayed["tradeId"] == trade["tradeId"]
    await api.call("POST", "/trade/place", 409, token=user, body={**order, "quantity": 11}, headers=key)
    for refused in ({**order, "stockSymbol": "NOPE"}, {**order, "limitPrice": 5000}, {**order, "quantity": 10**6}):
        await api.call("POST", "/trade/place", 422, token=user, body=refused)
        preview = await api.call("POST", "/trade/preview", 200, token=user, body=refused)
        assert preview["ok"] is False and preview["error"]["status"] == 422
    assert (await api.call("POST", "/trade/preview", 200, token=user, body=order))["ok"] is True
    await api.call("PUT", "/sim/stocks/{symbol}", 200, token=admin, path_parameters={"symbol": stock},
                   body={"price": "99.25", "liquidity": 4})
    await runtime.settle()
    ids = {"tradeId": trade["tradeId"]}
    partial = await api.call("GET", "/trade/{tradeId}", 200, token=user, path_parameters=ids)
    assert partial["status"] == "partiallyExecuted" and partial["executions"]
    await api.call("GET", "/trade/{tradeId}", 404, token=user, path_parameters={"tradeId": str(uuid.uuid4())})
    await api.call("POST", "/trade/{tradeId}/cancel", 202, token=user, path_parameters=ids)
    await api.call("PUT", "/sim/stocks/{symbol}", 200, token=admin, path_parameters={"symbol": stock},
                   body={"price": 100})
    await api.call("POST", "/trade/place", 201, token=user,
                   body={"stockSymbol": stock, "quantity": 3, "tradeType": "buy", "orderType": "market"})
    await runtime.settle()
    await api.call("POST", "/trade/place", 201, token=user,
                   body={"stockSymbol": stock, "quantity": 1, "tradeType": "sell", "limitPrice": 99})
    await runtime.settle()
    await api.call("POST", "/trade/{tradeId}/cancel", 409, token=user, path_parameters=ids)

    # What the user sees.
    trades = await api.call("GET", "/trades", 200, token=user, query={"limit": 2})
    assert trades["nextCursor"] is not None
    await api.call("GET", "/trades", 200, token=user, query={"cursor": trades["nextCursor"], "status": "canceled"})
    await api.call("GET", "/trades", 400, token=user, query={"limit": 0})
    history = await api.call("GET", "/transaction-history", 200, token=user, query={"stockSymbol": stock})
    assert {t["status"] for t in history["items"]} >= {"canceled", "executed"}
    await api.call("GET", "/balance", 200, token=user)
    ledger = await api.call("GET", "/balance/ledger", 200, token=user, query={"limit": 3})
    await api.call("GET", "/balance/ledger", 200, token=user, query={"cursor": ledger["nextCursor"]})
    portfolio = await api.call("GET", "/portfolio", 200, token=user)
    assert portfolio["holdings"][0]["currentPrice"] is not None
    inbox = await api.call("GET", "/notifications", 200, token=user)
    assert {n["type"] for n in inbox["items"]} >= {"trade.placed", "trade.partiallyExecuted", "trade.executed",
                                                   "trade.canceled", "balance.updated", "portfolio.updated"}
    await api.call("GET", "/stocks", 200, token={})
    await api.call("GET", "/stocks/{symbol}", 200, token={}, path_parameters={"symbol": stock})
    await api.call("GET", "/stocks/{symbol}", 404, token={}, path_parameters={"symbol": "NOPE"})
    chart = await api.call("GET", "/stocks/{symbol}/bars", 200, token={}, path_parameters={"symbol": stock},
                           query={"interval": "5m"})
    assert chart["bars"], "the prices set above are ticks"
    await api.call("GET", "/stocks/{symbol}/bars", 404, token={}, path_parameters={"symbol": "NOPE"})
    await api.call("GET", "/stocks/{symbol}/bars", 422, token={}, path_parameters={"symbol": stock},
                   query={"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"})

    # Webhooks, by a user of their own: its one delivery goes to a closed loopback port.
    hooks = hooker.headers
    hook = await api.call("POST", "/webhooks", 201, token=hooks, body={"url": "http://127.0.0.1:9/hook"})
    await api.call("POST", "/webhooks", 422, token=hooks, body={"url": "ftp://example.com/"})
    await api.call("POST", "/webhooks", 422, token=hooks, body={"url": "http://10.1.2.3/"})
    await api.call("GET", "/webhooks", 200, token=hooks)
    await hooker.deposit(1)
    await runtime.settle()
    hook_id = {"webhookId": hook["webhookId"]}
    deliveries = await api.call("GET", "/webhooks/{webhookId}/deliveries", 200, token=hooks, path_parameters=hook_id)
    assert deliveries["items"], "the deposit's balance.updated makes a delivery"
    await api.call("DELETE", "/webhooks/{webhookId}", 204, token=hooks, path_parameters=hook_id)
    await api.call("DELETE", "/webhooks/{webhookId}", 404, token=hooks, path_parameters=hook_id)

    # Notifications by email, push and SMS (the session's email and SMS are the log channels: the
    # pending code is replaced by one the test knows, as if read from the message).
    listener = await trader()
    notified, notify_user = listener.headers, listener.user_id
    await api.call("GET", "/notifications/preferences", 200, token=notified)
    await api.call("PUT", "/notifications/preferences", 200, token=notified, body={
        "channels": {"trade.placed": ["push"]}, "quietHours": {"start": "22:00", "end": "07:00", "timeZone": "UTC"}})
    await api.call("PUT", "/notifications/preferences", 422, token=notified,
                   body={"channels": {"portfolio.updated": ["email"]}})
    secret = runtime.services.notifications.secret
    for kind, path, body in (("email", "/notifications/contacts/email", {"address": "ada@example.com"}),
                             ("phone", "/notifications/contacts/phone", {"number": "+14155550123"})):
        await api.call("POST", path, 202, token=notified, body=body)
        await api.call("POST", path, 409, token=notified, body=body)  # a new code only after 30 s
        await api.call("POST", path + "/verify", 422, token=notified, body={"code": "000000"})
        address = next(iter(body.values()))
        await runtime.pool.execute(
            "UPDATE notification_contacts SET code_hash = $3 WHERE user_id = $1 AND kind = $2", notify_user, kind,
            code_hash(secret, notify_user, ContactKind(kind), address, "123456"))
        await api.call("POST", path + "/verify", 200, token=notified, body={"code": "123456"})
        await api.call("POST", path, 200, token=notified, body=body)  # verified already: nothing sent
    await api.call("POST", "/notifications/contacts/email", 422, token=notified, body={"address": "nope"})
    key = await api.call("GET", "/notifications/push-key", 200, token=notified)
    assert len(key["publicKey"]) == 87
    browser = Browser().subscription("https://push.invalid/wpush/" + uuid.uuid4().hex)
    subscribed = await api.call("POST", "/notifications/push-subscriptions", 201, token=notified, body=browser)
    await api.call("POST", "/notifications/push-subscriptions", 422, token=notified,
                   body={**browser, "endpoint": "https://10.0.0.1/x"})
    await api.call("GET", "/notifications/push-subscriptions", 200, token=notified)
    subscription = {"subscriptionId": subscribed["subscriptionId"]}
    await api.call("DELETE", "/notifications/push-subscriptions/{subscriptionId}", 204, token=notified,
                   path_parameters=subscription)
    await api.call("DELETE", "/notifications/push-subscriptions/{subscriptionId}", 404, token=notified,
                   path_parameters=subscription)
    await api.call("GET", "/notifications/deliveries", 200, token=notified, query={"limit": 10})
    token = {"token": make_token(secret, notify_user, EventType.TRADE_CANCELED)}
    await api.call("GET", "/notifications/unsubscribe", 200, token={}, query=token)
    await api.call("POST", "/notifications/unsubscribe", 200, token={}, query=token)
    await api.call("GET", "/notifications/unsubscribe", 422, token={}, query={"token": "forged.token"})

    # Operations and the stream.
    await api.call("POST", "/sim/session/close", 200, token=admin)
    await api.call("GET", "/healthz", 200, token={})
    await api.call("GET", "/readyz", 200, token={})
    await api.call("GET", "/metrics", 200, token={})
    async with httpx.AsyncClient(base_url=f"http://{live_url}") as live, \
            live.stream("GET", "/notifications/stream", headers=user) as stream:
        documented = DOCUMENT["paths"]["/notifications/stream"]["get"]["responses"]["200"]["content"]
        assert stream.status_code == 200 and stream.headers["content-type"].split(";")[0] in documented
        api.answered.add(("GET /notifications/stream", 200))

    # Every success the document promises was answered and judged (a 503 needs a dependency down).
    promised = {(f"{method} {path}", int(status)) for method, path, operation in operations()
                for status in operation["responses"] if status.startswith("2")}
    assert promised - {("GET /readyz", 503)} <= api.answered, sorted(promised - api.answered)
    assert len({label for label, _ in api.answered}) == len(OPERATIONS)


# -- requests schemathesis makes up ----------------------------------------------------

# Not made up: the stream never ends, and a made-up webhook URL would be looked up in DNS
# and, if public, sent to (the scenario above covers both). The simulated venue's price is
# set on a stock of the test's own, and the session is closed in the scenario only.
NOT_GENERATED = {"GET /notifications/stream", "POST /webhooks", "POST /sim/session/close",
                 "POST /notifications/push-subscriptions"}
GENERATED = [operation for operation in OPERATIONS if operation.label not in NOT_GENERATED]
STRATEGIES = {operation.label: operation.as_strategy() for operation in GENERATED}
EXAMPLES = 20


@pytest.fixture(scope="module")
async def generated_user(client, runtime) -> dict[str, Any]:
    """A funded user with stock of their own, so generated orders can also be placed and filled."""
    user_id = f"made-up-{uuid.uuid4().hex[:8]}"
    stock = "G" + uuid.uuid4().hex[:6].upper()
    await runtime.pool.execute(
        "INSERT INTO instruments (symbol, name, reference_price, last_price) VALUES ($1, $1, 100, 100)", stock)
    runtime.services.add_instrument(Instrument(stock, stock), Decimal(100))
    deposited = await client.post("/admin/deposits", json={"userId": user_id, "amount": 1_000_000}, headers=ADMIN)
    assert deposited.status_code == 201, deposited.text
    return {"headers": bearer(user_id), "symbol": stock}


@pytest.mark.parametrize("operation", GENERATED, ids=lambda operation: operation.label)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(data=st.data())
async def test_made_up_requests_get_documented_answers(client, generated_user, operation, data):
    case = data.draw(STRATEGIES[operation.label])
    admin = any(operation.path.startswith(prefix) for prefix in ("/admin/", "/sim/"))
    case.headers = {**(case.headers or {}), **(ADMIN if admin else generated_user["headers"])}
    if "symbol" in (case.path_parameters or {}) and operation.path.startswith("/sim/"):
        case.path_parameters["symbol"] = generated_user["symbol"]
    if operation.label == "POST /trade/place" and isinstance(case.body, dict) and data.draw(st.booleans()):
        case.body["stockSymbol"] = generated_user["symbol"]  # half of them name a stock that exists
    await Api(client).send(case)
