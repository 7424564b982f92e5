"""Webhooks speak Standard Webhooks: the running tickerdesk of the session (relay,
dispatcher and its own sender) POSTs an order's events to a real HTTP receiver, and
the `standardwebhooks` library, as an integrator would use it, verifies every
delivery and refuses one tampered with. A secret issued before the switch keeps
working. The deprecated Tickerdesk-Signature is still sent alongside."""

from __future__ import annotations

import asyncio
import base64
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web
from jsonschema import Draft202012Validator
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from tickerdesk_client import verify_webhook

from tests.conftest import exact
from tickerdesk.adapters.webhook_signatures import verify_legacy_signature
from tickerdesk.codec import loads


@dataclass
class Receiver:
    """A real HTTP endpoint on 127.0.0.1 that records what it is sent and answers 200."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append({"headers": dict(request.headers), "body": await request.read()})
        return web.Response(text="ok")

    async def wait_for(self, count: int, seconds: float = 15.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + seconds
        while len(self.requests) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert len(self.requests) >= count, f"{len(self.requests)} of {count} deliveries arrived"
        await asyncio.sleep(0.3)  # and no more than those
        return self.requests


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    rec.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        yield rec
    finally:
        await runner.cleanup()


@pytest.fixture
async def webhook_headers(client) -> Draft202012Validator:
    """The webhook headers as /asyncapi.json describes them."""
    document = (await client.get("/asyncapi.json")).json()
    message = document["components"]["messages"]["WebhookTradeExecuted"]
    return Draft202012Validator(message["headers"], format_checker=Draft202012Validator.FORMAT_CHECKER)


async def register(user, url: str) -> dict[str, Any]:
    response = await user.client.post("/webhooks", json={"url": url}, headers=user.headers)
    assert response.status_code == 201, response.text
    return exact(response)


async def deliveries_of_a_filled_order(user, runtime, symbol, receiver) -> list[dict[str, Any]]:
    """Place a buy that fills at once; the events it makes, as the running sender delivers them."""
    stock = await symbol("100")
    seen = await runtime.pool.fetchval("SELECT coalesce(max(seq), 0) FROM notifications WHERE user_id = $1",
                                       user.user_id)
    trade = await user.place(stockSymbol=stock, quantity=3, limitPrice="101")  # marketable: fills at once
    await runtime.settle()
    assert (await user.trade(trade["tradeId"]))["status"] == "executed"
    rows = await runtime.pool.fetch(
        "SELECT payload->>'id' AS id, type FROM notifications WHERE user_id = $1 AND seq > $2",
        user.user_id, seen,
    )
    assert {"trade.placed", "trade.executed", "balance.updated", "portfolio.updated"} <= {r["type"] for r in rows}
    requests = await receiver.wait_for(len(rows))
    assert sorted(r["headers"]["webhook-id"] for r in requests) == sorted(r["id"] for r in rows)
    return requests


def tampered(body: bytes) -> bytes:
    """The same envelope with the first digit of its first number (an amount, a quantity) changed."""
    match = re.search(rb'":(\d)', body)
    assert match, body
    digit = match.group(1)
    return body[: match.start(1)] + (b"8" if digit != b"8" else b"7") + body[match.end(1):]


async def test_a_running_tickerdesk_sends_deliveries_the_standardwebhooks_library_verifies(
    trader, runtime, symbol, receiver, webhook_headers
):
    alice = await trader(10_000)
    await runtime.settle()  # the deposit's events are out before the webhook exists
    hook = await register(alice, receiver.url)
    secret = hook["secret"]
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", secret)
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    try:
        requests = await deliveries_of_a_filled_order(alice, runtime, symbol, receiver)
    finally:
        await alice.client.delete(f"/webhooks/{hook['webhookId']}", headers=alice.headers)

    integrator = Webhook(secret)
    for request in requests:
        headers, body = request["headers"], request["body"]
        webhook_headers.validate(headers)  # as /asyncapi.json documents them
        envelope = integrator.verify(body, headers)
        assert envelope == loads(body)
        assert headers["webhook-id"] == envelope["id"]
        assert headers["Tickerdesk-Event"] == envelope["type"]
        assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
        # The SDK's stdlib check agrees, and reads money exactly.
        checked = verify_webhook(secret, headers, body)
        assert checked == loads(body)
        if checked["type"] == "trade.executed":
            assert checked["data"]["lastPrice"] == Decimal("100") and checked["data"]["lastQuantity"] == 3

        refused = [
            (secret, tampered(body), headers),
            (secret, body + b" ", headers),
            (secret, body, {**headers, "webhook-id": str(uuid.uuid4())}),
            (secret, body, {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) + 1)}),
            (secret, body, {**headers, "webhook-timestamp": str(int(time.time()) - 301)}),  # an old timestamp
            ("whsec_" + base64.b64encode(b"another secret of 24 bytes").decode(), body, headers),
            (secret, body, {k: v for k, v in headers.items() if k != "webhook-signature"}),
        ]
        for key, what, these in refused:
            with pytest.raises(WebhookVerificationError):
                Webhook(key).verify(what, these)

        # Deprecated, still sent in this release.
        assert headers["Tickerdesk-Timestamp"] == headers["webhook-timestamp"]
        assert verify_legacy_signature(secret, headers["Tickerdesk-Timestamp"], body, headers["Tickerdesk-Signature"])


async def test_a_webhook_registered_before_standard_webhooks_keeps_its_secret(trader, runtime, symbol, receiver):
    """Secrets were `whsec_` + URL-safe base64 without padding; such a webhook is signed
    with the bytes its secret encodes, so the integrator converts the string as the
    documents say and verifies with the library, and the deprecated header is unchanged."""
    alice = await trader(10_000)
    await runtime.settle()
    hook = await register(alice, receiver.url)
    old = "whsec_" + base64.urlsafe_b64encode(bytes([0xFB, 0xFF]) * 16).decode().rstrip("=")  # has - and _
    assert "-" in old and "_" in old
    await runtime.pool.execute("UPDATE webhooks SET secret = $1 WHERE webhook_id = $2", old, hook["webhookId"])
    try:
        requests = await deliveries_of_a_filled_order(alice, runtime, symbol, receiver)
    finally:
        await alice.client.delete(f"/webhooks/{hook['webhookId']}", headers=alice.headers)

    # As the README says: after `whsec_`, `-` becomes `+` and `_` becomes `/`, padded with `=`.
    converted = "whsec_" + old.removeprefix("whsec_").replace("-", "+").replace("_", "/") + "="
    for request in requests:
        headers, body = request["headers"], request["body"]
        assert Webhook(converted).verify(body, headers) == loads(body)
        assert verify_webhook(old, headers, body) == loads(body)  # the SDK takes it as it is
        assert verify_legacy_signature(old, headers["Tickerdesk-Timestamp"], body, headers["Tickerdesk-Signature"])
        with pytest.raises(WebhookVerificationError):
            Webhook(converted).verify(tampered(body), headers)
