"""Every route, hostile values in every parameter and in the headers we read: never a
5xx, and every 4xx is problem+json with a `code`.

The routes come from the app's own route table, their query and header parameters
from its OpenAPI document, so a new route or parameter is fuzzed without a change
here. Requests are sent straight to the ASGI app (not through httpx) so that any bytes
can be put in a query string or a header, and so that a stream that answers 200 can be
dropped after its first message instead of being read forever.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote_to_bytes

import pytest
import simplejson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Route

from tests.conftest import SECRET
from tickerdesk.config import Settings
from tickerdesk.entrypoints.http.app import create_app
from tickerdesk.entrypoints.http.auth import issue_token

FUZZED_HEADERS = ("authorization", "idempotency-key", "last-event-id", "x-request-id")


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # the template, e.g. /trade/{tradeId}
    path_params: tuple[str, ...]
    query_params: tuple[str, ...]
    header_params: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def endpoints() -> list[Endpoint]:
    """Every operation of the OpenAPI document of an app built from the test settings, and
    the routes the document leaves out (its own, the docs pages)."""
    app = create_app(Settings(jwt_secret=SECRET))
    found = []
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            declared = operation.get("parameters", [])
            names = {where: tuple(p["name"] for p in declared if p["in"] == where) for where in ("query", "header")}
            found.append(Endpoint(method.upper(), path, tuple(re.findall(r"{(\w+)}", path)), names["query"],
                                  tuple(h.lower() for h in names["header"])))
    documented = {(e.method, e.path) for e in found}
    for route in app.routes:
        if isinstance(route, Route) and route.methods:
            found += [Endpoint(method, route.path, tuple(route.param_convertors), (), ())
                      for method in sorted(route.methods - {"HEAD"}) if (method, route.path) not in documented]
    return found


ENDPOINTS = endpoints()

ODD_TIMES = [
    "9999-12-31T23:59:59-23:00", "0001-01-01T00:00:00+23:00", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999",
    "0000-00-00T00:00:00Z", "2024-02-30T00:00:00Z", "10000-01-01T00:00:00Z", "2024-01-01T25:61:61Z",
    "2024-01-01T00:00:00+99:00", "-0001-01-01", "1e308", "2024-01-01",
]
HUGE_INTEGERS = [str(2**63 - 1), str(2**63), str(2**64), str(-(2**63) - 1), "9" * 400, "-0", "+1", "1_000", "0x10",
                 "1e3", "²", "١٢"]
NASTY = [
    "", " ", "\x00", "a\x00b", "\ud800", "x\udfffy", "\ud83d\ude00", "\ufffd", "é", "caf\u00e9", "\u202eRTL",
    "\r\n", "\t", "%00", "../../etc/passwd", "' OR '1'='1", "null", "[]", "{}", "-1", "0", "1",
    "x" * 10_000, "AAPL", "aapl", "pending", "executed", str(uuid.uuid4()), "01a220b8-0821-7000-9aa7-5049e482c3ea",
]
# Every code point, lone surrogates included (hypothesis leaves them out unless asked).
any_character = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())
hostile = st.one_of(
    st.sampled_from(NASTY + ODD_TIMES + HUGE_INTEGERS),
    st.text(any_character, max_size=40),
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.text(st.sampled_from("0123456789"), min_size=18, max_size=25),
)
authorization = st.one_of(
    st.none(),
    st.sampled_from(["user", "admin"]),  # real tokens: the parameters behind authentication are reached too
    st.builds(lambda sub: "Bearer " + issue_token(SECRET, sub), hostile),
    st.builds(lambda sub: "Bearer " + issue_token(SECRET, sub, admin=True), hostile),
    hostile.map(lambda value: "Bearer " + value),
    hostile,
)


def wire(value: str) -> bytes:
    """The bytes a client sends for `value`; a lone surrogate goes as the bytes that would encode it."""
    return value.encode("utf-8", "surrogatepass")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


async def call(app: Any, method: str, raw_path: bytes, query: bytes, headers: list[tuple[bytes, bytes]],
               client: tuple[str, int]) -> Answer:
    """One request to the ASGI app; a 200 event stream is dropped after its headers."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        # as servers do: percent-escapes decoded, bytes that are not UTF-8 replaced
        "path": unquote_to_bytes(raw_path).decode("utf-8", "replace"), "raw_path": raw_path, "root_path": "",
        "query_string": query, "headers": [(b"host", b"tickerdesk"), *headers],
        "client": client, "server": ("tickerdesk", 80),
    }
    finished, answer, asked = asyncio.Event(), Answer(0, {}, b""), [False]

    async def receive() -> dict[str, Any]:
        if not asked[0]:
            asked[0] = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in message["headers"]}
            if answer.headers.get("content-type", "").startswith("text/event-stream"):
                finished.set()
        elif message["type"] == "http.response.body":
            answer.body += message.get("body", b"")
            if not message.get("more_body"):
                finished.set()

    await asyncio.wait_for(app(scope, receive, send), 10)
    return answer


@pytest.fixture(scope="module")
def app(settings, runtime):
    return create_app(settings, services=runtime.services)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
async def test_no_parameter_or_header_makes_a_5xx_and_every_4xx_is_a_problem(app, endpoint, data):
    path = endpoint.path
    for name in endpoint.path_params:
        value = data.draw(hostile, label=f"path {name}")
        path = path.replace("{" + name + "}", quote(wire(value), safe=""))
    query = [(name, data.draw(hostile, label=f"query {name}"))
             for name in endpoint.query_params if data.draw(st.booleans(), label=f"send {name}")]
    headers = []
    for name in dict.fromkeys(FUZZED_HEADERS + endpoint.header_params):
        value = data.draw(authorization if name == "authorization" else st.none() | hostile, label=name)
        if value in ("user", "admin"):
            value = "Bearer " + issue_token(SECRET, "fuzz-user", admin=value == "admin")
        if value is not None:
            headers.append((name.encode(), wire(value)))
    client = (data.draw(st.ip_addresses(v=4).map(str), label="client"), 40000)
    query_string = "&".join(f"{quote(name)}={quote(wire(value), safe='')}" for name, value in query).encode()

    answer = await call(app, endpoint.method, path.encode(), query_string, headers, client)

    assert answer.status < 500, (answer.status, answer.body[:500])
    if 400 <= answer.status < 500:
        assert answer.headers["content-type"].startswith("application/problem+json"), answer
        problem = simplejson.loads(answer.body)
        assert isinstance(problem.get("code"), str) and problem["code"], problem
    request_id = answer.headers.get("x-request-id", "")
    assert request_id.isascii() and request_id.isprintable() and " " not in request_id, request_id


def test_every_route_is_fuzzed():
    """The table is the app's own: the routes of the contract are all in it."""
    fuzzed = {str(e) for e in ENDPOINTS}
    for expected in ("POST /trade/place", "GET /trade/{tradeId}", "GET /transaction-history", "GET /balance/ledger",
                     "GET /notifications/stream", "POST /admin/deposits", "GET /webhooks/{webhookId}/deliveries"):
        assert expected in fuzzed, sorted(fuzzed)
    assert "after" in next(e for e in ENDPOINTS if e.path == "/notifications").query_params
