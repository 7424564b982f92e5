"""Webhooks: registration, signed deliveries to a real local HTTP receiver, retries
with back-off, permanent failure, idempotent enqueueing, filtering, and senders
that share the work without sending anything twice. (test_standard_webhooks verifies
what a running tickerdesk sends with the `standardwebhooks` library.)"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from tickerdesk_client import verify_webhook

from tests.conftest import exact
from tickerdesk.adapters.postgres.webhooks import PgWebhooks
from tickerdesk.adapters.webhook_sender import WebhookSender
from tickerdesk.adapters.webhook_signatures import verify_legacy_signature
from tickerdesk.app.consumers.webhooks import WebhookDispatcher
from tickerdesk.codec import decode_event, encode_event, loads
from tickerdesk.domain.accounting import Balance
from tickerdesk.domain.events import EVENT_TYPES, BalanceUpdated, Event, EventType, TradeEvent, TradeFilled
from tickerdesk.domain.ids import new_trade_id
from tickerdesk.domain.orders import Order, OrderType, Side, Status, TimeInForce


@pytest.fixture(scope="module", autouse=True)
async def _senders_of_our_own(runtime):
    """These tests send by hand and count every attempt, so the runtime's background
    sender (the task named "webhook-sender", if any) is paused for this module."""
    paused = [t for t in runtime.tasks if t.get_name() == "webhook-sender" and not t.done()]
    for task in paused:
        task.cancel()
    await asyncio.gather(*paused, return_exceptions=True)
    for task in paused:
        runtime.tasks.remove(task)
    yield
    if paused and getattr(runtime, "webhook_sender", None) is not None:
        runtime.tasks.append(asyncio.create_task(runtime.webhook_sender.run(), name="webhook-sender"))


_registered: list[tuple[str, str]] = []


@pytest.fixture(autouse=True)
async def _delete_webhooks_afterwards(runtime):
    """Each test's webhooks go when it ends, so no later test's sender finds its
    pending deliveries due."""
    yield
    store = PgWebhooks(runtime.pool)
    while _registered:
        await store.delete(*_registered.pop())


@dataclass
class Receiver:
    """A real HTTP endpoint on 127.0.0.1 that records what it is sent."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_first: int = 0  # answer 500 to this many requests, then 200
    always_fail: bool = False
    delay: float = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append({"headers": dict(request.headers), "body": body, "path": request.path})
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.always_fail or len(self.requests) <= self.fail_first:
            return web.Response(status=500, text="boom")
        return web.Response(status=200, text="ok")

    def delivery_ids(self) -> list[int]:
        return [int(r["headers"]["Tickerdesk-Delivery"]) for r in self.requests]


@pytest.fixture
async def receiver():
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    rec.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield rec
    finally:
        await runner.cleanup()


@pytest.fixture
def store(runtime) -> PgWebhooks:
    return PgWebhooks(runtime.pool)


@pytest.fixture
async def sender(store, settings):
    """Senders that may reach the test receiver on 127.0.0.1, as the session's settings allow."""
    made: list[WebhookSender] = []

    def make(max_attempts: int = 5, **options: Any) -> WebhookSender:
        options.setdefault("allowed_hosts", settings.webhook_allowed_hosts)
        s = WebhookSender(store, timeout_seconds=2.0, max_attempts=max_attempts, **options)
        made.append(s)
        return s

    yield make
    for s in made:
        await s.close()


async def register(user, url: str, event_types: list[str] | None = None, expect: int = 201) -> dict:
    body: dict[str, Any] = {"url": url}
    if event_types is not None:
        body["eventTypes"] = event_types
    response = await user.client.post("/webhooks", json=body, headers=user.headers)
    assert response.status_code == expect, response.text
    created = exact(response)
    _registered.append((user.user_id, created["webhookId"]))
    return created


async def deliveries(user, webhook_id: str, **params: Any) -> dict:
    response = await user.client.get(f"/webhooks/{webhook_id}/deliveries", headers=user.headers, params=params)
    assert response.status_code == 200, response.text
    return exact(response)


def envelope(user_id: str, type_: str = "balance.updated", trade_id: str | None = None) -> Event:
    """A typed event of `type_` for `user_id` (the dispatcher and the store take typed events)."""
    now = datetime.now(UTC)
    cls = EVENT_TYPES[EventType(type_)]
    if cls is BalanceUpdated:
        return BalanceUpdated(user_id=user_id, occurred_at=now, balance=Balance(Decimal("0.1000"), Decimal(0)))
    order = Order(trade_id=trade_id or new_trade_id(), user_id=user_id, symbol="AAPL", side=Side.BUY,
                  order_type=OrderType.LIMIT, time_in_force=TimeInForce.DAY, quantity=1,
                  limit_price=Decimal("100"), hold_price=Decimal("100"), status=Status.PENDING,
                  created_at=now, updated_at=now)
    if issubclass(cls, TradeFilled):
        return cls(user_id=user_id, occurred_at=now, order=order, last_quantity=1, last_price=Decimal("100"))
    assert issubclass(cls, TradeEvent)
    return cls(user_id=user_id, occurred_at=now, order=order)


async def make_due(runtime, webhook_id: str) -> None:
    """Skip the back-off wait: every pending delivery of the webhook is due now."""
    await runtime.pool.execute(
        "UPDATE webhook_deliveries SET next_attempt_at = now() WHERE webhook_id = $1 AND status = 'pending'",
        webhook_id,
    )


async def delivery_rows(runtime, webhook_id: str) -> list[Any]:
    return await runtime.pool.fetch(
        "SELECT * FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY delivery_id", webhook_id
    )


async def test_registration_shows_the_secret_once_and_listing_never(trader):
    alice = await trader()
    created = await register(alice, "https://hooks.invalid/hooks/tickerdesk")
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 40
    assert created["url"] == "https://hooks.invalid/hooks/tickerdesk"
    assert created["eventTypes"] is None
    assert uuid.UUID(created["webhookId"]) and created["createdAt"]
    other = await register(alice, "http://hooks.invalid/other", ["trade.executed"])
    assert other["secret"] != created["secret"]

    listed = await alice.get("/webhooks")
    assert [w["webhookId"] for w in listed["items"]] == [created["webhookId"], other["webhookId"]]
    assert all("secret" not in w for w in listed["items"])
    assert listed["items"][1]["eventTypes"] == ["trade.executed"]
    assert created["secret"] not in (await alice.client.get("/webhooks", headers=alice.headers)).text


async def test_another_users_webhook_is_not_found_for_deliveries_and_delete(trader):
    alice, bob = await trader(), await trader()
    hook = await register(alice, "https://hooks.invalid/alice")
    path = f"/webhooks/{hook['webhookId']}"
    assert (await bob.client.get(path + "/deliveries", headers=bob.headers)).status_code == 404
    assert (await bob.client.delete(path, headers=bob.headers)).status_code == 404
    assert (await bob.get("/webhooks"))["items"] == []
    assert [w["webhookId"] for w in (await alice.get("/webhooks"))["items"]] == [hook["webhookId"]]
    for missing in (f"/webhooks/{uuid.uuid4()}", "/webhooks/not-a-uuid"):
        assert (await alice.client.delete(missing, headers=alice.headers)).status_code == 404
        assert (await alice.client.get(missing + "/deliveries", headers=alice.headers)).status_code == 404


async def test_deleting_a_webhook_hides_it_stops_pending_deliveries_and_keeps_history(trader, runtime, store):
    alice = await trader()
    hook = await register(alice, "https://hooks.invalid/gone")
    await WebhookDispatcher(store).handle([envelope(alice.user_id)])
    response = await alice.client.delete(f"/webhooks/{hook['webhookId']}", headers=alice.headers)
    assert response.status_code == 204
    assert (await alice.get("/webhooks"))["items"] == []
    [item] = (await deliveries(alice, hook["webhookId"]))["items"]
    assert item["status"] == "failed" and item["lastError"] == "webhook deleted"
    assert (await alice.client.delete(f"/webhooks/{hook['webhookId']}", headers=alice.headers)).status_code == 404
    assert await store.enqueue([envelope(alice.user_id)]) == 0  # a deleted webhook gets nothing new


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://example.com/hook"},
        {"url": "example.com/hook"},
        {"url": "//example.com/hook"},
        {"url": "http://"},
        {"url": "https://hooks.invalid:99999/hook"},
        {"url": "https://exa mple.com/hook"},
        {"url": "javascript:alert(1)"},
        {"url": "https://hooks.invalid/" + "a" * 2048},
        {"url": ""},
        {},
        {"url": 42},
        {"url": "https://hooks.invalid/hook", "eventTypes": ["trade.cancelRequested"]},
        {"url": "https://hooks.invalid/hook", "eventTypes": ["nope"]},
        {"url": "https://hooks.invalid/hook", "eventTypes": []},
        {"url": "https://hooks.invalid/hook", "eventTypes": "trade.placed"},
        {"url": "https://hooks.invalid/hook", "secret": "mine"},
    ],
)
async def test_a_webhook_needs_an_http_url_and_user_facing_event_types(trader, body):
    alice = await trader()
    response = await alice.client.post("/webhooks", json=body, headers=alice.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert exact(response)["code"] == "invalid_request"
    assert (await alice.get("/webhooks"))["items"] == []


async def test_a_url_of_exactly_2048_characters_is_accepted(trader):
    alice = await trader()
    url = "https://hooks.invalid/" + "a" * (2048 - len("https://hooks.invalid/"))
    assert (await register(alice, url))["url"] == url


async def test_an_order_produces_signed_deliveries_of_the_users_events(
    trader, symbol, runtime, store, sender, receiver
):
    alice = await trader(10_000)
    stock = await symbol("100")
    hook = await register(alice, receiver.url)
    await alice.place(stockSymbol=stock, quantity=2, limitPrice="90.25")  # rests: no fill
    await runtime.settle()
    rows = await runtime.pool.fetch(
        "SELECT payload FROM notifications WHERE user_id = $1 ORDER BY seq", alice.user_id
    )
    events = [decode_event(r["payload"]) for r in rows]
    assert {"trade.placed", "balance.updated"} <= {str(e.type) for e in events}

    await WebhookDispatcher(store).handle(events)
    assert await sender().send_due() >= len(events)

    assert len(receiver.requests) == len(events)
    by_event = {loads(r["body"])["id"]: r for r in receiver.requests}
    assert set(by_event) == {e.id for e in events}
    for event in events:
        request = by_event[event.id]
        headers, body = request["headers"], request["body"]
        assert headers["Content-Type"] == "application/json"
        assert headers["Tickerdesk-Event"] == event.type
        assert headers["webhook-id"] == event.id
        assert Webhook(hook["secret"]).verify(body, headers) == loads(body)
        # The deprecated header, still sent in this release, with the same timestamp.
        assert headers["Tickerdesk-Timestamp"] == headers["webhook-timestamp"]
        timestamp, signature = headers["Tickerdesk-Timestamp"], headers["Tickerdesk-Signature"]
        assert verify_legacy_signature(hook["secret"], timestamp, body, signature)
        assert not verify_legacy_signature("whsec_wrong", timestamp, body, signature)
        assert not verify_legacy_signature(hook["secret"], timestamp, body + b" ", signature)
        assert loads(body) == encode_event(event)  # the envelope, exact decimals included
        assert loads(body) == next(r["payload"] for r in rows if r["payload"]["id"] == event.id)

    page = await deliveries(alice, hook["webhookId"])
    assert len(page["items"]) == len(events)
    assert all(d["status"] == "delivered" and d["attempts"] == 1 and d["lastStatusCode"] == 200 for d in page["items"])
    assert {int(r["headers"]["Tickerdesk-Delivery"]) for r in receiver.requests} == {
        d["deliveryId"] for d in page["items"]
    }


async def test_a_delivery_signed_more_than_five_minutes_ago_is_refused_by_the_library(
    trader, store, sender, receiver
):
    """A real delivery from a sender whose clock is six minutes behind: its signature is
    right for the time it carries, and that time is what the library refuses."""
    alice = await trader()
    hook = await register(alice, receiver.url)
    event = envelope(alice.user_id)
    await WebhookDispatcher(store).handle([event])
    behind = time.time() - 360
    assert await sender(clock=lambda: behind).send_due() == 1
    [request] = receiver.requests
    headers, body = request["headers"], request["body"]
    assert headers["webhook-timestamp"] == str(int(behind))
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(hook["secret"]).verify(body, headers)
    assert verify_webhook(hook["secret"], headers, body, now=behind)["id"] == event.id


async def test_a_failing_delivery_is_retried_with_back_off_until_delivered(
    trader, runtime, store, sender, receiver
):
    alice = await trader()
    hook = await register(alice, receiver.url)
    receiver.fail_first = 2
    await WebhookDispatcher(store).handle([envelope(alice.user_id)])
    webhooks = sender(max_attempts=5)

    assert await webhooks.send_due() == 1
    [row] = await delivery_rows(runtime, hook["webhookId"])
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("pending", 1, 500)
    wait = (row["next_attempt_at"] - datetime.now(UTC)).total_seconds()
    assert 0.5 < wait <= 2.1  # first back-off: up to 2**1 seconds
    assert await webhooks.send_due() == 0  # not due yet

    await make_due(runtime, hook["webhookId"])
    assert await webhooks.send_due() == 1
    [row] = await delivery_rows(runtime, hook["webhookId"])
    assert (row["status"], row["attempts"]) == ("pending", 2)
    assert 1.5 < (row["next_attempt_at"] - datetime.now(UTC)).total_seconds() <= 4.1  # up to 2**2

    await make_due(runtime, hook["webhookId"])
    assert await webhooks.send_due() == 1
    [item] = (await deliveries(alice, hook["webhookId"]))["items"]
    assert item["status"] == "delivered"
    assert item["attempts"] == 3
    assert item["lastStatusCode"] == 200
    assert item["lastError"] is None and item["deliveredAt"] is not None and item["nextAttemptAt"] is None
    assert len(receiver.requests) == 3
    assert len(set(receiver.delivery_ids())) == 1  # the same delivery each time
    assert len({r["body"] for r in receiver.requests}) == 1
    # The same webhook-id each time, each attempt signed anew at its own time.
    assert {r["headers"]["webhook-id"] for r in receiver.requests} == {loads(receiver.requests[0]["body"])["id"]}
    for request in receiver.requests:
        Webhook(hook["secret"]).verify(request["body"], request["headers"])


async def test_a_delivery_that_always_fails_ends_failed_after_max_attempts(
    trader, runtime, store, sender, receiver
):
    alice = await trader()
    hook = await register(alice, receiver.url)
    receiver.always_fail = True
    await WebhookDispatcher(store).handle([envelope(alice.user_id)])
    webhooks = sender(max_attempts=3)
    for _ in range(3):
        assert await webhooks.send_due() == 1
        await make_due(runtime, hook["webhookId"])
    assert await webhooks.send_due() == 0
    [item] = (await deliveries(alice, hook["webhookId"]))["items"]
    assert (item["status"], item["attempts"], item["lastStatusCode"]) == ("failed", 3, 500)
    assert item["lastError"] == "HTTP 500" and item["deliveredAt"] is None and item["nextAttemptAt"] is None
    assert len(receiver.requests) == 3


async def test_an_unreachable_endpoint_counts_as_a_failed_attempt(trader, runtime, store, sender):
    alice = await trader()
    hook = await register(alice, "http://127.0.0.1:9/nobody-listens")  # discard port: refused
    await WebhookDispatcher(store).handle([envelope(alice.user_id)])
    assert await sender(max_attempts=1).send_due() == 1
    [item] = (await deliveries(alice, hook["webhookId"]))["items"]
    assert (item["status"], item["attempts"], item["lastStatusCode"]) == ("failed", 1, None)
    assert item["lastError"]


async def test_a_slow_endpoint_times_out_and_is_retried(trader, runtime, store, receiver, settings):
    alice = await trader()
    hook = await register(alice, receiver.url)
    receiver.delay = 1.0
    await WebhookDispatcher(store).handle([envelope(alice.user_id)])
    webhooks = WebhookSender(store, timeout_seconds=0.2, max_attempts=5, allowed_hosts=settings.webhook_allowed_hosts)
    try:
        assert await webhooks.send_due() == 1
    finally:
        await webhooks.close()
    [row] = await delivery_rows(runtime, hook["webhookId"])
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("pending", 1, None)
    assert "timed out" in row["last_error"]


async def test_handling_the_same_event_twice_creates_one_delivery(trader, runtime, store):
    alice = await trader()
    hook = await register(alice, "https://hooks.invalid/once")
    event = envelope(alice.user_id, "trade.placed", trade_id=str(uuid.uuid4()))
    dispatcher = WebhookDispatcher(store)
    await dispatcher.handle([event])
    await dispatcher.handle([event])
    assert await store.enqueue([event, event]) == 0
    rows = await delivery_rows(runtime, hook["webhookId"])
    assert [(str(r["event_id"]), r["event_type"]) for r in rows] == [(event.id, "trade.placed")]


async def test_event_types_filter_what_a_webhook_receives(trader, runtime, store):
    alice, bob = await trader(), await trader()
    everything = await register(alice, "https://hooks.invalid/all")
    trades = await register(alice, "https://hooks.invalid/trades", ["trade.placed", "trade.executed"])
    bobs = await register(bob, "https://hooks.invalid/bob")
    events = [
        envelope(alice.user_id, "trade.placed"),
        envelope(alice.user_id, "balance.updated"),
        envelope(alice.user_id, "trade.executed"),
        envelope(alice.user_id, "trade.cancelRequested"),  # internal: never sent
    ]
    assert await store.enqueue(events) == 3 + 2
    assert [r["event_type"] for r in await delivery_rows(runtime, everything["webhookId"])] == [
        "trade.placed", "balance.updated", "trade.executed"
    ]
    assert [r["event_type"] for r in await delivery_rows(runtime, trades["webhookId"])] == [
        "trade.placed", "trade.executed"
    ]
    assert await delivery_rows(runtime, bobs["webhookId"]) == []  # another user's events


async def test_deliveries_page_newest_first(trader, store):
    alice = await trader()
    hook = await register(alice, "https://hooks.invalid/paged")
    events = [envelope(alice.user_id) for _ in range(5)]
    await WebhookDispatcher(store).handle(events)
    first = await deliveries(alice, hook["webhookId"], limit=3)
    assert [d["eventId"] for d in first["items"]] == [e.id for e in events[::-1][:3]]
    second = await deliveries(alice, hook["webhookId"], limit=3, cursor=first["nextCursor"])
    assert [d["eventId"] for d in second["items"]] == [e.id for e in events[::-1][3:]]
    assert second["nextCursor"] is None
    assert all(d["status"] == "pending" and d["attempts"] == 0 for d in first["items"] + second["items"])


async def test_concurrent_senders_deliver_each_delivery_exactly_once(trader, runtime, store, sender, receiver):
    alice = await trader()
    hook = await register(alice, receiver.url)
    receiver.delay = 0.01
    await WebhookDispatcher(store).handle([envelope(alice.user_id) for _ in range(40)])

    async def drain(s: WebhookSender) -> int:
        total = 0
        while sent := await s.send_due():
            total += sent
        return total

    one, two = sender(batch=4, concurrency=2), sender(batch=4, concurrency=2)
    counts = await asyncio.gather(drain(one), drain(two), one.send_due(), two.send_due())
    assert sum(counts) == 40
    assert counts[0] > 0 and counts[1] > 0  # both did share the work
    assert sorted(Counter(receiver.delivery_ids()).values()) == [1] * 40
    rows = await delivery_rows(runtime, hook["webhookId"])
    assert [(r["status"], r["attempts"]) for r in rows] == [("delivered", 1)] * 40


async def test_a_running_sender_delivers_relayed_events_and_survives_errors(trader, symbol, runtime, receiver,
                                                                             settings):
    alice = await trader(10_000)
    stock = await symbol("100")
    await runtime.settle()  # the deposit's events are out before the webhook exists
    seen = await runtime.pool.fetchval("SELECT max(seq) FROM notifications WHERE user_id = $1", alice.user_id)
    hook = await register(alice, receiver.url)
    await alice.place(stockSymbol=stock, quantity=1, limitPrice="90")  # relayed to the runtime's dispatcher
    await runtime.settle()
    expected = await runtime.pool.fetchval(
        "SELECT count(*) FROM notifications WHERE user_id = $1 AND seq > $2", alice.user_id, seen
    )
    assert expected >= 2  # trade.placed and balance.updated at least

    class FlakyStore(PgWebhooks):
        failures = 2

        async def claim_due(self, limit, **options):
            if self.failures:
                self.failures -= 1
                raise ConnectionError("database went away")
            return await super().claim_due(limit, **options)

    running = WebhookSender(FlakyStore(runtime.pool), timeout_seconds=2.0, max_attempts=3,
                            allowed_hosts=settings.webhook_allowed_hosts)
    task = asyncio.create_task(running.run(interval=0.02))
    try:
        for _ in range(250):
            if len(receiver.requests) >= expected:
                break
            await asyncio.sleep(0.02)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert len(receiver.requests) == expected
    items = (await deliveries(alice, hook["webhookId"]))["items"]
    assert len(items) == expected and all(d["status"] == "delivered" for d in items)


# -- webhooks never reach inside the network -------------------------------------------------


INSIDE = [
    "http://localhost/hook",  # a name that resolves to a loopback address
    "http://127.0.0.2:8000/admin/deposits",
    "http://127.1/hook",  # 127.0.0.1 in a short form the resolver understands
    "http://2130706433/hook",  # and as one number
    "http://0x7f000001/hook",
    "http://[::1]:8000/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://0.0.0.0:8000/hook",
    "http://10.0.0.5/hook",
    "http://172.20.1.1/hook",
    "https://192.168.1.1/hook",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://100.100.100.200/latest/meta-data/",
    "http://[fe80::1]/hook",
    "http://[fd12:3456::1]/hook",
    "http://224.0.0.1/hook",
]


@pytest.mark.parametrize("url", INSIDE)
async def test_a_webhook_to_an_address_inside_the_network_is_refused_at_registration(trader, url):
    alice = await trader()
    response = await alice.client.post("/webhooks", json={"url": url}, headers=alice.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = exact(response)
    assert problem["code"] == "unsafe_webhook_url"
    assert "public" in problem["detail"] or "address" in problem["detail"], problem
    assert (await alice.get("/webhooks"))["items"] == []


async def test_loopback_receivers_need_the_allow_list_which_is_empty_by_default(runtime, receiver):
    import httpx

    from tests.conftest import SECRET, bearer
    from tickerdesk.config import Settings
    from tickerdesk.entrypoints.http.app import create_app

    assert Settings(jwt_secret=SECRET).webhook_allowed_hosts == []
    app = create_app(Settings(jwt_secret=SECRET), services=runtime.services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://tickerdesk") as client:
        headers = bearer(f"user-{uuid.uuid4().hex[:12]}")
        response = await client.post("/webhooks", json={"url": receiver.url}, headers=headers)
        assert response.status_code == 422, response.text
        assert "loopback" in response.json()["detail"]
        assert (await client.get("/webhooks", headers=headers)).json()["items"] == []


async def test_a_name_that_does_not_resolve_now_is_accepted_and_checked_again_at_delivery(trader):
    alice = await trader()
    assert (await register(alice, "https://hooks.invalid/later"))["url"] == "https://hooks.invalid/later"


async def test_a_delivery_to_an_address_inside_is_refused_after_resolution_and_never_sent(
    trader, runtime, store, sender, receiver
):
    """Registration is not the only line: the sender resolves the host itself, checks
    every address, and connects only to a checked one. Here the webhooks were stored
    without the registration check (as if the name had pointed elsewhere then)."""
    alice = await trader()
    port = receiver.url.split(":")[2].split("/")[0]
    by_name = await store.register(alice.user_id, f"http://localhost:{port}/hook", None)
    by_address = await store.register(alice.user_id, receiver.url, None)
    _registered.extend([(alice.user_id, by_name["webhookId"]), (alice.user_id, by_address["webhookId"])])
    await WebhookDispatcher(store).handle([envelope(alice.user_id)])

    assert await sender(max_attempts=1, allowed_hosts=[]).send_due() == 2
    assert receiver.requests == []
    for hook in (by_name, by_address):
        [item] = (await deliveries(alice, hook["webhookId"]))["items"]
        assert (item["status"], item["attempts"], item["lastStatusCode"]) == ("failed", 1, None)
        assert "not sent" in item["lastError"] and "loopback" in item["lastError"], item["lastError"]
    [by_name_item] = (await deliveries(alice, by_name["webhookId"]))["items"]
    assert "localhost" in by_name_item["lastError"]


async def test_a_redirect_is_not_followed(trader, runtime, store, sender):
    """A public receiver could answer 307 to the metadata service; the sender never follows."""
    followed: list[str] = []

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(location="/inside")

    async def inside(request: web.Request) -> web.Response:
        followed.append(request.path)
        return web.Response(text="secret")

    app = web.Application()
    app.router.add_post("/hook", redirect)
    app.router.add_post("/inside", inside)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        alice = await trader()
        hook = await register(alice, f"http://127.0.0.1:{runner.addresses[0][1]}/hook")
        await WebhookDispatcher(store).handle([envelope(alice.user_id)])
        assert await sender(max_attempts=1).send_due() == 1
    finally:
        await runner.cleanup()
    assert followed == []
    [item] = (await deliveries(alice, hook["webhookId"]))["items"]
    assert (item["status"], item["lastStatusCode"], item["lastError"]) == ("failed", 307, "HTTP 307")
