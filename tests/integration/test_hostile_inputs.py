"""Inputs that once answered 500: text PostgreSQL cannot hold (NUL, lone surrogates),
times it cannot hold, integers beyond its bigint, garbage in headers, and JSON objects
that repeat a key. Each is a clear 4xx problem+json, and nothing changes."""

import asyncio
import secrets
from urllib.parse import quote

import httpx
import pytest
import websockets

from tests.conftest import ADMIN, SECRET
from tickerdesk.entrypoints.http.auth import issue_token

BEYOND_BIGINT = str(2**63)
HUGE = "9" * 40


def assert_refused(response: httpx.Response, status: int | tuple[int, ...], field: str | None = None) -> dict:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    if status != 401:
        assert problem["code"] == "invalid_request", problem
    if field is not None:
        assert field in problem["detail"], problem
    return problem


@pytest.mark.parametrize("path", ["/trades", "/transaction-history"])
@pytest.mark.parametrize("value", ["\x00", "AA\x00PL", "\ud800"])
async def test_text_postgresql_cannot_hold_in_a_query_is_refused(trader, path, value):
    alice = await trader()
    # a lone surrogate is not UTF-8: it can only arrive as the bytes that would encode it
    encoded = quote(value.encode("utf-8", "surrogatepass"))
    response = await alice.client.get(f"{path}?stockSymbol={encoded}", headers=alice.headers)
    if "\x00" in value:
        assert_refused(response, 400, "stockSymbol")
    else:  # the server decodes what is not UTF-8 to U+FFFD, which is text like any other
        assert response.status_code == 200, response.text


@pytest.mark.parametrize("body", [
    '{"userId": "\\u0000", "amount": 10}',
    '{"userId": "bob\\u0000", "amount": 10}',
    '{"userId": "\\ud800", "amount": 10}',
    '{"userId": "a\\udfffb", "amount": 10}',
    '{"userId": "carol", "amount": 10, "reference": "\\u0000"}',
    '{"userId": "carol", "amount": 10, "\\u0000": 1}',
])
async def test_text_postgresql_cannot_hold_in_a_body_is_refused_and_changes_nothing(client, body):
    response = await client.post("/admin/deposits", content=body.encode(),
                                 headers={**ADMIN, "Content-Type": "application/json"})
    assert_refused(response, (400, 422))


async def test_a_lone_surrogate_in_an_order_is_refused(trader):
    alice = await trader(1_000)
    body = '{"stockSymbol": "AAPL", "quantity": 1, "tradeType": "buy", "clientOrderId": "\\ud83d"}'
    response = await alice.client.post("/trade/place", content=body.encode(),
                                       headers={**alice.headers, "Content-Type": "application/json"})
    assert_refused(response, (400, 422), "clientOrderId")
    assert await alice.balance() == (1_000, 0)


@pytest.mark.parametrize("sub", ["\x00", "alice\x00", "\ud800", "bob\udfff"])
async def test_a_token_whose_sub_postgresql_cannot_hold_is_unauthenticated(client, sub):
    token = issue_token(SECRET, sub)
    response = await client.get("/balance", headers={"Authorization": f"Bearer {token}"})
    assert_refused(response, 401)
    assert response.json()["code"] == "unauthenticated"


@pytest.mark.parametrize("params", [
    {"to": "9999-12-31T23:59:59-23:00"},
    {"from": "0001-01-01T00:00:00+23:00"},
    {"from": "0001-01-01T00:00:00+00:01"},
    {"to": "9999-12-31T23:59:59.999999-00:01"},
])
async def test_times_beyond_what_postgresql_holds_are_refused(trader, params):
    alice = await trader()
    response = await alice.client.get("/transaction-history", params=params, headers=alice.headers)
    assert_refused(response, (400, 422), next(iter(params)))


async def test_times_at_the_edges_of_what_postgresql_holds_are_answered(trader):
    alice = await trader()
    for params in ({"from": "0001-01-01T00:00:00Z", "to": "9999-12-31T23:59:59Z"},
                   {"from": "0001-01-01T00:00:00", "to": "9999-12-31T23:59:59"}):
        response = await alice.client.get("/transaction-history", params=params, headers=alice.headers)
        assert response.status_code == 200, response.text


async def test_integers_beyond_a_bigint_are_refused(trader):
    alice = await trader()
    created = await alice.client.post("/webhooks", json={"url": "https://hooks.invalid/hooks/tickerdesk"},
                                      headers=alice.headers)
    assert created.status_code == 201, created.text
    deliveries = f"/webhooks/{created.json()['webhookId']}/deliveries"
    for path, name in (("/notifications", "after"), ("/balance/ledger", "cursor"), (deliveries, "cursor"),
                       ("/notifications/stream", "after")):
        for value in (BEYOND_BIGINT, HUGE):
            response = await alice.client.get(path, params={name: value}, headers=alice.headers)
            assert_refused(response, 400, name)
        # the largest bigint is a position like any other: nothing after it
        if path != "/notifications/stream":
            response = await alice.client.get(path, params={name: str(2**63 - 1)}, headers=alice.headers)
            assert response.status_code == 200, response.text


async def test_a_websocket_resuming_beyond_a_bigint_is_refused_not_dropped(trader, live_url):
    alice = await trader()
    try:
        async with websockets.connect(f"ws://{live_url}/notifications/ws?after={BEYOND_BIGINT}",
                                      additional_headers=alice.headers) as ws:
            message = await asyncio.wait_for(ws.recv(), 5)
    except websockets.InvalidStatus as refused:  # refused before the handshake completes
        assert refused.response.status_code == 403
    except websockets.ConnectionClosed as closed:
        assert closed.rcvd is not None and closed.rcvd.code == 1008  # policy violation, not 1011
    else:
        raise AssertionError(f"the connection was accepted: {message}")


@pytest.mark.parametrize("value", [BEYOND_BIGINT, HUGE, "²", "¹²", "١٢", "-1", "abc", "1e3", "",
                                   b"\xb2", b"\xb9\xb2"])  # superscripts in Latin-1, as servers decode headers
async def test_a_bad_last_event_id_is_refused(trader, value):
    alice = await trader()
    headers = {**alice.headers, "Last-Event-ID": value if isinstance(value, bytes) else value.encode()}
    response = await alice.client.get("/notifications/stream", headers=headers)
    assert_refused(response, (400, 422), "Last-Event-ID")


@pytest.mark.parametrize("value", [b"\xff\xfe", "caf\u00e9".encode(), "\u00e9".encode("latin-1"), b"a b", b"x" * 200,
                                   b"\x00", b"\x1b[31m"])
async def test_a_bad_request_id_is_replaced_by_a_generated_one(client, value):
    response = await client.get("/healthz", headers={"X-Request-ID": value})
    assert response.status_code == 200
    replaced = response.headers["x-request-id"]
    assert replaced.isascii() and replaced.isalnum() and replaced.encode() != value


async def test_a_good_request_id_is_kept(client):
    for value in ("abc-123", "f3b9c2d4-7e1a-4b8e-9d2c-000000000000", "trace:1.2_3"):
        response = await client.get("/healthz", headers={"X-Request-ID": value})
        assert response.headers["x-request-id"] == value


@pytest.mark.parametrize("path", ["/admin/deposits", "/admin/withdrawals"])
@pytest.mark.parametrize("key", [secrets.token_hex(512 * 1024), "has spaces", "k" * 65, "caf\u00e9"])
async def test_a_funding_idempotency_key_is_validated_like_a_placements(trader, client, path, key):
    alice = await trader(100)
    response = await client.post(path, json={"userId": alice.user_id, "amount": 10},
                                 headers={**ADMIN, "Idempotency-Key": key.encode()})
    assert_refused(response, (400, 422), "Idempotency-Key")
    assert await alice.balance() == (100, 0)


async def test_a_good_funding_idempotency_key_still_makes_retries_safe(trader, client):
    alice = await trader()
    key = f"wire-{secrets.token_hex(8)}"
    for expected in (201, 200):
        response = await client.post("/admin/deposits", json={"userId": alice.user_id, "amount": 10},
                                     headers={**ADMIN, "Idempotency-Key": key})
        assert response.status_code == expected, response.text
    assert await alice.balance() == (10, 0)


@pytest.mark.parametrize(("path", "body", "key"), [
    ("/trade/place", '{"stockSymbol": "AAPL", "quantity": 1, "tradeType": "buy", "quantity": 5}', "quantity"),
    ("/trade/place", '{"stockSymbol": "AAPL", "quantity": 1, "tradeType": "buy", "limitPrice": 1, "limitPrice": 1}',
     "limitPrice"),
    ("/trade/place", '{"stockSymbol": "AAPL", "quantity": 1, "tradeType": "buy", "x": {"a": 1, "a": 2}}', "a"),
    ("/admin/deposits", '{"userId": "USER", "amount": 1, "amount": 1000}', "amount"),
])
async def test_a_json_object_that_repeats_a_key_is_refused_and_changes_nothing(trader, path, body, key):
    alice = await trader(1_000)
    headers = {**(ADMIN if path.startswith("/admin") else alice.headers), "Content-Type": "application/json"}
    response = await alice.client.post(path, content=body.replace("USER", alice.user_id).encode(), headers=headers)
    problem = assert_refused(response, 400)
    assert f"repeats the key {key!r}" in problem["detail"], problem
    assert await alice.balance() == (1_000, 0)
    assert (await alice.get("/trades"))["items"] == []


async def test_a_bad_request_id_needs_no_token_to_be_handled(client):
    response = await client.get("/balance", headers={"X-Request-ID": b"\xff"})
    assert_refused(response, 401)
    assert response.headers["x-request-id"].isalnum()
