"""The HTTP edge against an attacker: failed authentication and public routes are
limited per client address, every response carries the security headers, and a
method a path does not have is 405 with `Allow`."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import websockets

from tests.conftest import SECRET, bearer, new_address
from tickerdesk.app.rate_limits import RateLimit
from tickerdesk.entrypoints.http.app import create_app
from tickerdesk.entrypoints.http.auth import issue_token

BAD = {"Authorization": "Bearer not-a-token"}


@pytest.fixture
async def from_address(settings, runtime) -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    """`from_address("203.0.113.9")`: a client whose requests come from that address."""
    opened: list[httpx.AsyncClient] = []

    def make(address: str) -> httpx.AsyncClient:
        app = create_app(settings, services=runtime.services)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 40000)),
                                   base_url="http://tickerdesk")
        opened.append(client)
        return client

    yield make
    for client in opened:
        await client.aclose()


@pytest.fixture
def limits(runtime):
    """Set some of the session's limits for one test."""
    saved = dict(runtime.services.limits)

    def set_(**groups: RateLimit) -> None:
        runtime.services.limits.update(groups)

    yield set_
    runtime.services.limits.clear()
    runtime.services.limits.update(saved)


# -- failed authentication --------------------------------------------------------------


async def test_repeated_failed_authentication_refuses_the_address_for_a_while(from_address, limits, trader):
    limits(auth_failures=RateLimit(rate=0.001, burst=3))
    mallory = from_address(new_address())
    assert [(await mallory.get("/balance", headers=BAD)).status_code for _ in range(3)] == [401] * 3

    refused = await mallory.get("/balance", headers=BAD)
    assert refused.status_code == 429, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) > 60

    # The address is refused before any token is looked at: a valid one from there too,
    # so guessing cannot tell a right token from a wrong one. Nothing is changed.
    alice = await trader(1_000)
    blocked = await mallory.post("/trade/place", headers=bearer(alice.user_id),
                                 json={"stockSymbol": "KO", "quantity": 1, "tradeType": "buy", "limitPrice": 50})
    assert blocked.status_code == 429, blocked.text
    assert await alice.balance() == (1_000, 0)
    for path in ("/notifications/stream", "/admin/deposits"):
        assert (await mallory.request("POST" if "admin" in path else "GET", path)).status_code == 429

    # Another address is not affected.
    other = from_address(new_address())
    assert (await other.get("/balance", headers=BAD)).status_code == 401
    assert (await other.get("/balance", headers=alice.headers)).status_code == 200


async def test_a_client_that_already_proved_its_token_keeps_working(from_address, limits, trader):
    """Behind one shared address (an office, a carrier's NAT) a user whose token this
    server has verified is not refused because someone else there is guessing."""
    limits(auth_failures=RateLimit(rate=0.001, burst=2))
    alice = await trader(10)
    shared = from_address(new_address())
    assert (await shared.get("/balance", headers=alice.headers)).status_code == 200
    for _ in range(3):
        await shared.get("/balance", headers=BAD)
    assert (await shared.get("/balance", headers=BAD)).status_code == 429
    assert (await shared.get("/balance", headers=alice.headers)).status_code == 200


async def test_failed_authentication_comes_back_at_the_configured_rate(from_address, limits):
    limits(auth_failures=RateLimit(rate=20, burst=2))  # a token every 50 ms
    mallory = from_address(new_address())
    assert [(await mallory.get("/balance", headers=BAD)).status_code for _ in range(3)] == [401, 401, 429]
    await asyncio.sleep(0.15)
    assert (await mallory.get("/balance", headers=BAD)).status_code == 401


async def test_a_websocket_from_a_refused_address_is_closed_as_rate_limited(live_url, limits, trader):
    limits(auth_failures=RateLimit(rate=0.001, burst=1))
    alice = await trader()
    # The test server trusts X-Forwarded-For from 127.0.0.1, as production trusts nginx.
    forwarded = {"X-Forwarded-For": new_address()}

    async def close_code(headers: dict[str, str]) -> int:
        async with websockets.connect(f"ws://{live_url}/notifications/ws", additional_headers=headers) as ws:
            try:
                await asyncio.wait_for(ws.recv(), 5)
            except websockets.ConnectionClosed as closed:
                assert closed.rcvd is not None
                return closed.rcvd.code
            raise AssertionError("the connection stayed open")

    assert await close_code({**forwarded, **BAD}) == 4401
    assert await close_code({**forwarded, "Authorization": f"Bearer {issue_token(SECRET, alice.user_id)}"}) == 4429


# -- public routes ----------------------------------------------------------------------


async def test_public_routes_are_limited_per_client_address(from_address, limits):
    limits(public=RateLimit(rate=0.001, burst=3))
    crawler = from_address(new_address())
    answers = [await crawler.get(path) for path in ("/stocks", "/stocks/AAPL", "/stocks", "/stocks/KO")]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert answers[0].headers["ratelimit-limit"] == "3"
    assert answers[3].json()["code"] == "rate_limited" and int(answers[3].headers["retry-after"]) >= 1
    assert (await from_address(new_address()).get("/stocks")).status_code == 200


# -- security headers -------------------------------------------------------------------


JSON_CSP = "default-src 'none'; frame-ancestors 'none'"


def assert_common_headers(response: httpx.Response) -> None:
    assert response.headers["x-content-type-options"] == "nosniff", response.url
    assert response.headers["referrer-policy"] == "no-referrer", response.url
    assert "server" not in response.headers


async def test_every_json_answer_carries_the_security_headers_and_user_data_is_not_stored(client, trader):
    alice = await trader(100)
    answers = [
        await client.get("/stocks"),
        await client.get("/healthz"),
        await client.get("/openapi.json"),
        await client.get("/balance", headers=alice.headers),
        await client.post("/trade/place", headers=alice.headers,
                          json={"stockSymbol": "KO", "quantity": 1, "tradeType": "buy", "limitPrice": 50}),
        await client.get("/balance"),  # 401
        await client.get(f"/trade/{uuid.uuid4()}", headers=alice.headers),  # 404
        await client.post("/trade/place", headers=alice.headers, content=b"{"),  # 400
        await client.get("/nowhere"),  # 404 from the router
    ]
    assert [r.status_code for r in answers] == [200, 200, 200, 200, 201, 401, 404, 400, 404]
    for response in answers:
        assert_common_headers(response)
        assert response.headers["content-security-policy"] == JSON_CSP, response.url
    for response in answers[3:]:
        assert response.headers["cache-control"] == "no-store", response.url


async def test_the_event_stream_is_not_stored_either(live_url, trader):
    alice = await trader()
    async with httpx.AsyncClient(base_url=f"http://{live_url}") as client, \
            client.stream("GET", "/notifications/stream", headers=alice.headers) as response:
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        assert_common_headers(response)


def allows(sources: list[str], url: str) -> bool:
    """CSP source matching, for the forms used here: 'self', an origin (any path on it), a
    path prefix ending in /, or one URL."""
    if url.startswith("/"):
        return "'self'" in sources
    return any(
        url == source
        or (source.endswith("/") and url.startswith(source))
        or (re.fullmatch(r"https?://[^/]+", source) is not None and url.startswith(source + "/"))
        for source in sources
    )


def csp_directives(header: str) -> dict[str, list[str]]:
    parts = (d.strip().split() for d in header.split(";") if d.strip())
    return {p[0]: p[1:] for p in parts}


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_the_documentation_pages_have_a_policy_that_allows_what_they_load(client, path):
    response = await client.get(path)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert_common_headers(response)
    policy = csp_directives(response.headers["content-security-policy"])
    assert policy["default-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert "'self'" in policy["connect-src"]  # the page fetches /openapi.json
    page = response.text
    for src in re.findall(r'<script[^>]*\bsrc="([^"]+)"', page):
        assert allows(policy["script-src"], src), src
    for href in re.findall(r'<link[^>]*\bhref="([^"]+)"', page):
        assert allows(policy["style-src"], href) or allows(policy["img-src"], href), href
    for site in ("https://cdn.jsdelivr.net/npm/evil@1/x.js", "https://example.com/x.js"):
        assert not allows(policy["script-src"], site)  # not all of jsDelivr, nor anywhere else
    # Inline scripts run only if the policy names their hash: every one the page has.
    for script in re.findall(r"<script>(.*?)</script>", page, flags=re.DOTALL):
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy["script-src"]
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]


# -- methods --------------------------------------------------------------------------------


async def test_get_on_the_placement_path_is_405_with_allow_not_a_trade_lookup(client, trader):
    alice = await trader()
    response = await client.get("/trade/place", headers=alice.headers)
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == "POST"
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "method_not_allowed"
    assert_common_headers(response)
    # A trade id that is not a UUID names no trade, as before.
    assert (await client.get("/trade/not-a-uuid", headers=alice.headers)).status_code == 404


async def test_every_path_answers_a_method_it_lacks_with_405_and_all_the_methods_it_has(client):
    """Every path without parameters, every method it does not serve: 405, and `Allow`
    lists every method any route of that path serves (GET and POST on /webhooks)."""
    document = (await client.get("/openapi.json")).json()
    served = {path: {m.upper() for m in operations} for path, operations in document["paths"].items()
              if "{" not in path}
    assert {"GET", "POST"} <= served["/webhooks"] and "POST" in served["/trade/place"]
    for path, methods in served.items():
        for method in {"GET", "POST", "PUT", "PATCH", "DELETE"} - methods:
            response = await client.request(method, path)
            assert response.status_code == 405, (method, path, response.status_code)
            assert set(response.headers["allow"].split(", ")) == methods, (method, path)
            assert response.json()["code"] == "method_not_allowed"


async def test_allow_lists_the_methods_of_a_path_with_parameters(client, trader):
    alice = await trader()
    response = await client.put(f"/trade/{uuid.uuid4()}/cancel", headers=alice.headers)
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    response = await client.post(f"/webhooks/{uuid.uuid4()}", headers=alice.headers, content=json.dumps({}))
    assert response.status_code == 405 and response.headers["allow"] == "DELETE"
