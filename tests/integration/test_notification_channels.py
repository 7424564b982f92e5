"""Email, Web Push and SMS, end to end: a `tickerdesk up` runtime of its own (its own
database) whose channels point at real local servers (tests/integration/notification_servers.py),
driven through the HTTP API as a person's browser and phone would: verify the contacts
with the codes received, subscribe a browser, place an order that fills, and read what
each server received. Redelivered events (put back in the outbox, so every consumer
sees them again) send nothing twice."""

from __future__ import annotations

import base64
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN, bearer, exact, fresh_database
from tests.integration.notification_servers import Browser, PushService, SmsProvider, SmtpSink, eventually
from tickerdesk.bootstrap import Runtime, open_up
from tickerdesk.config import Settings
from tickerdesk.domain.notifications import Channel
from tickerdesk.entrypoints.http.app import create_app

PUBLIC_URL = "http://tickerdesk.test"
SMS_SID = "AC0123456789abcdef"


@dataclass
class Stack:
    runtime: Runtime
    client: httpx.AsyncClient
    smtp: SmtpSink
    push: PushService
    sms: SmsProvider


@pytest.fixture(scope="module")
async def stack(settings: Settings):
    smtp = SmtpSink().start()
    push, sms = await PushService().start(), await SmsProvider().start()
    ours = settings.model_copy(update={
        "smtp_host": "127.0.0.1", "smtp_port": smtp.port, "smtp_security": "none", "smtp_from": "tickerdesk <n@test>",
        "sms_provider": "twilio", "sms_base_url": sms.url, "sms_account_sid": SMS_SID, "sms_auth_token": "token-123",
        "sms_from": "+15550000000", "push_allowed_hosts": ["127.0.0.1"], "notification_group_seconds": 1.0,
        "public_url": PUBLIC_URL, "notification_max_attempts": 3,
    })
    async with fresh_database("tickerdesk_notify") as url:
        runtime = await open_up(ours, url)
        await runtime.start()
        app = create_app(ours, services=runtime.services)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL) as client:
            try:
                yield Stack(runtime, client, smtp, push, sms)
            finally:
                await runtime.close()
    smtp.stop()
    await push.stop()
    await sms.stop()


class Person:
    """A user with an email address, a phone and a browser, talking to the API."""

    def __init__(self, stack: Stack):
        self.stack = stack
        self.user_id = f"user-{uuid.uuid4().hex[:12]}"
        self.headers = bearer(self.user_id)
        self.email = f"{self.user_id}@example.com"
        self.phone = "+1415555" + str(uuid.uuid4().int)[:4]
        self.browser = Browser()
        self.endpoints: set[str] = set()  # paths at the push service of this person's browser

    async def call(self, method: str, path: str, expect: int, **options: Any) -> Any:
        response = await self.stack.client.request(method, path, headers=self.headers, **options)
        assert response.status_code == expect, response.text
        return exact(response) if response.headers.get("content-type", "").endswith("json") else response.text

    async def verify_email(self) -> None:
        await self.call("POST", "/notifications/contacts/email", 202, json={"address": self.email})
        mail = await eventually(lambda: self.stack.smtp.to(self.email))
        code = re.search(r"\b(\d{6})\b", mail[-1].get_body(("plain",)).get_content()).group(1)
        verified = await self.call("POST", "/notifications/contacts/email/verify", 200, json={"code": code})
        assert verified == {"kind": "email", "address": self.email, "verified": True, "codeExpiresAt": None}

    async def verify_phone(self) -> None:
        await self.call("POST", "/notifications/contacts/phone", 202, json={"number": self.phone})
        sent = await eventually(lambda: self.stack.sms.to(self.phone))
        code = re.search(r"\b(\d{6})\b", sent[-1].form["Body"]).group(1)
        await self.call("POST", "/notifications/contacts/phone/verify", 200, json={"code": code})

    async def subscribe_browser(self) -> dict:
        token = uuid.uuid4().hex
        return await self.call("POST", "/notifications/push-subscriptions", 201,
                               json=self.browser.subscription(self.stack.push.endpoint(token)))

    async def fund(self, amount: int) -> None:
        response = await self.stack.client.post("/admin/deposits", json={"userId": self.user_id, "amount": amount},
                                                headers=ADMIN)
        assert response.status_code == 201, response.text

    async def buy(self, symbol: str, quantity: int, limit: str) -> dict:
        trade = await self.call("POST", "/trade/place", 201, json={"stockSymbol": symbol, "quantity": quantity,
                                                                   "tradeType": "buy", "limitPrice": limit})
        await self.stack.runtime.settle()
        return trade

    async def deliveries(self) -> list[dict]:
        return (await self.call("GET", "/notifications/deliveries", 200, params={"limit": 500}))["items"]

    def pushes(self) -> list[dict]:
        """Every push message to this person's browser, decrypted."""
        return [json.loads(self.browser.decrypt(m.body)) for m in self.stack.push.messages if m.path in self.endpoints]


async def person(stack: Stack, *, email: bool = True, phone: bool = False, browser: bool = True) -> Person:
    someone = Person(stack)
    if email:
        await someone.verify_email()
    if phone:
        await someone.verify_phone()
    if browser:
        subscription = await someone.subscribe_browser()
        someone.endpoints.add("/push/" + subscription["endpoint"].rsplit("/", 1)[1])
    return someone


async def stock(stack: Stack, price: str = "100") -> str:
    from tickerdesk.domain.instruments import Instrument

    name = "N" + uuid.uuid4().hex[:6].upper()
    await stack.runtime.pool.execute(
        "INSERT INTO instruments (symbol, name, reference_price, last_price) VALUES ($1, $1, $2, $2)", name,
        Decimal(price))
    stack.runtime.services.add_instrument(Instrument(name, name), Decimal(price))
    return name


async def set_price(stack: Stack, symbol: str, price: str, liquidity: int | None = None) -> None:
    body: dict[str, Any] = {"price": price} | ({"liquidity": liquidity} if liquidity else {})
    response = await stack.client.put(f"/sim/stocks/{symbol}", json=body, headers=ADMIN)
    assert response.status_code == 200, response.text
    await stack.runtime.settle()


async def settled(someone: Person) -> list[dict]:
    """The person's deliveries once none is pending."""
    async def done() -> list[dict] | None:
        items = await someone.deliveries()
        return items if items and all(d["status"] != "pending" for d in items) else None

    return await eventually(done)


async def redeliver(stack: Stack, user_id: str) -> int:
    """Every event the user was told about goes through the outbox again: each consumer sees it twice."""
    rows = await stack.runtime.pool.fetch("SELECT event_id, type, payload FROM notifications WHERE user_id = $1",
                                          user_id)
    await stack.runtime.pool.executemany(
        "INSERT INTO outbox (event_id, user_id, type, payload) VALUES ($1, $2, $3, $4)",
        [(r["event_id"], user_id, r["type"], r["payload"]) for r in rows])
    await stack.runtime.settle()
    return len(rows)


# -- the promise ----------------------------------------------------------------------


async def test_a_fill_sends_one_email_one_push_and_one_sms_and_a_redelivery_sends_nothing_again(stack):
    ada = await person(stack, phone=True)
    await ada.call("PUT", "/notifications/preferences", 200, json={"channels": {"trade.executed": ["email", "push",
                                                                                                  "sms"]}})
    await ada.fund(10_000)
    symbol = await stock(stack, "100")
    mails_before, sms_before = len(stack.smtp.to(ada.email)), len(stack.sms.to(ada.phone))
    trade = await ada.buy(symbol, 10, "100")

    deliveries = await settled(ada)
    assert sorted((d["eventType"], d["channel"], d["status"]) for d in deliveries) == [
        ("trade.executed", "email", "delivered"), ("trade.executed", "push", "delivered"),
        ("trade.executed", "sms", "delivered")]
    # The email: both parts, the fill, and an unsubscribe link in the body and the header.
    mails = stack.smtp.to(ada.email)[mails_before:]
    assert len(mails) == 1
    mail = mails[0]
    assert mail["Subject"] == f"tickerdesk: Order filled: bought 10 {symbol} at 100.00"
    text, html = mail.get_body(("plain",)).get_content(), mail.get_body(("html",)).get_content()
    assert "10 at 100.00" in text and "10 of 10 filled at an average of 100.00" in text
    assert f"Order filled: bought 10 {symbol} at 100.00" in html and "<h1" in html
    link = re.search(r"Stop emails about orders filled: (\S+)", text).group(1)
    assert link.startswith(f"{PUBLIC_URL}/notifications/unsubscribe?token=")
    assert mail["List-Unsubscribe"] == f"<{link}>" and mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # The push: VAPID-signed by the key the API publishes, and decrypted with the browser's key.
    key = (await ada.call("GET", "/notifications/push-key", 200))["publicKey"]
    pushes = [m for m in stack.push.messages if m.path in ada.endpoints]
    assert len(pushes) == 1 and pushes[0].vapid_key == key
    assert pushes[0].headers["Urgency"] == "high" and pushes[0].headers["Topic"] == trade["tradeId"].replace("-", "")
    shown = ada.pushes()[0]
    assert shown["title"] == f"Order filled: bought 10 {symbol} at 100.00"
    assert shown["tag"] == f"order-{trade['tradeId']}" and shown["type"] == "trade.executed"
    # The SMS: Twilio's request, short, nothing secret.
    texts = stack.sms.to(ada.phone)[sms_before:]
    assert len(texts) == 1
    assert texts[0].path == f"/2010-04-01/Accounts/{SMS_SID}/Messages.json"
    assert base64.b64decode(texts[0].authorization.removeprefix("Basic ")) == f"{SMS_SID}:token-123".encode()
    assert texts[0].form["From"] == "+15550000000"
    assert texts[0].form["Body"] == f"tickerdesk: Order filled: bought 10 {symbol} at 100.00"

    # Every event again, through the outbox to every consumer: nothing new is stored or sent.
    assert await redeliver(stack, ada.user_id) >= 3
    for channel in Channel:
        await stack.runtime.notification_sender.send_due(channel)
    assert len(await ada.deliveries()) == 3
    assert len(stack.smtp.to(ada.email)) == mails_before + 1
    assert len(ada.pushes()) == 1 and len(stack.sms.to(ada.phone)) == sms_before + 1


async def test_fills_of_one_order_close_together_are_one_email_listing_each(stack):
    bo = await person(stack, browser=False)
    await bo.fund(10_000)
    symbol = await stock(stack, "50")
    before = len(stack.smtp.to(bo.email))
    await bo.buy(symbol, 9, "49")  # rests
    for price in ("49", "48.5", "48"):  # three fills of 3 within the grouping window
        await set_price(stack, symbol, price, liquidity=3)
    deliveries = await settled(bo)
    assert [d["eventType"] for d in sorted(deliveries, key=lambda d: d["deliveryId"])] == [
        "trade.partiallyExecuted", "trade.partiallyExecuted", "trade.executed"]
    first = min(d["deliveryId"] for d in deliveries)
    assert {d["sentWith"] for d in deliveries if d["deliveryId"] != first} <= {first, None}
    mails = stack.smtp.to(bo.email)[before:]
    assert len(mails) == 1, [m["Subject"] for m in mails]
    text = mails[0].get_body(("plain",)).get_content()
    assert "3 fills of your order to buy 9" in text
    assert all(line in text for line in ("3 at 49.00", "3 at 48.50", "3 at 48.00"))
    assert mails[0]["Subject"] == f"tickerdesk: Order filled: bought 9 {symbol} at 48.50"


async def test_nothing_is_sent_to_an_unverified_address_but_its_code(stack):
    cy = await person(stack, email=False, browser=False)
    await cy.call("POST", "/notifications/contacts/email", 202, json={"address": cy.email})
    await eventually(lambda: stack.smtp.to(cy.email))
    await cy.fund(10_000)
    await cy.buy(await stock(stack), 1, "100")
    await stack.runtime.notification_sender.send_due(Channel.EMAIL)
    assert await cy.deliveries() == []
    assert len(stack.smtp.to(cy.email)) == 1  # the code only
    preferences = await cy.call("GET", "/notifications/preferences", 200)
    assert preferences["contacts"]["email"] == {"address": cy.email, "verified": False}


async def test_the_unsubscribe_link_turns_that_email_off_and_nothing_else(stack):
    di = await person(stack, browser=False)
    await di.fund(10_000)
    symbol = await stock(stack)
    before = len(stack.smtp.to(di.email))
    await di.buy(symbol, 1, "100")
    await settled(di)
    mail = stack.smtp.to(di.email)[before]
    link = mail["List-Unsubscribe"].strip("<>").removeprefix(PUBLIC_URL)
    page = await stack.client.get(link)
    assert page.status_code == 200 and "Stop emails about orders filled?" in page.text
    assert (await di.call("GET", "/notifications/preferences", 200))["channels"]["trade.executed"] == ["email", "push"]
    # One click (RFC 8058): a mail client POSTs without the user's token.
    done = await stack.client.post(link, content="List-Unsubscribe=One-Click",
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert done.status_code == 200 and "no more emails about orders filled" in done.text
    channels = (await di.call("GET", "/notifications/preferences", 200))["channels"]
    assert channels["trade.executed"] == ["push"] and channels["trade.canceled"] == ["email", "push"]
    forged = link.replace("token=", "token=x")
    assert (await stack.client.post(forged)).status_code == 422
    await di.buy(symbol, 1, "100")
    await stack.runtime.notification_sender.send_due(Channel.EMAIL)
    assert len(stack.smtp.to(di.email)) == before + 1


async def test_a_failing_mail_server_delays_neither_push_nor_the_stream_and_is_retried(stack):
    ed = await person(stack)
    await ed.fund(10_000)
    symbol = await stock(stack)
    stack.smtp.refuse_with = "451 4.3.0 mailbox busy, try again later"
    try:
        await ed.buy(symbol, 1, "100")
        await eventually(lambda: ed.pushes())  # push goes out while email fails
        inbox = await ed.call("GET", "/notifications", 200)
        assert "trade.executed" in {n["type"] for n in inbox["items"]}

        async def failed_once() -> dict | None:
            email = next((d for d in await ed.deliveries() if d["channel"] == "email"), None)
            return email if email and email["attempts"] >= 1 else None

        email = await eventually(failed_once)
        assert email["status"] == "pending" and "451" in email["lastError"] and email["nextAttemptAt"]
    finally:
        stack.smtp.refuse_with = None
    await stack.runtime.pool.execute(
        "UPDATE notification_deliveries SET next_attempt_at = now() WHERE user_id = $1", ed.user_id)
    stack.runtime.notification_sender.wake()
    deliveries = await settled(ed)
    assert {(d["channel"], d["status"]) for d in deliveries} == {("email", "delivered"), ("push", "delivered")}


async def test_a_push_subscription_its_service_says_is_gone_is_deleted(stack):
    fay = await person(stack, email=False)
    await fay.fund(10_000)
    stack.push.status = 410
    try:
        await fay.buy(await stock(stack), 1, "100")
        deliveries = await settled(fay)
    finally:
        stack.push.status = 201
    assert [(d["channel"], d["status"], d["attempts"]) for d in deliveries] == [("push", "failed", 1)]
    assert "410" in deliveries[0]["lastError"]
    assert (await fay.call("GET", "/notifications/push-subscriptions", 200))["items"] == []


async def test_a_number_the_provider_refuses_fails_for_good_at_once(stack):
    gus = await person(stack, email=False, browser=False, phone=True)
    await gus.call("PUT", "/notifications/preferences", 200, json={"channels": {"trade.executed": ["sms"]}})
    await gus.fund(10_000)
    stack.sms.status = 400
    try:
        await gus.buy(await stock(stack), 1, "100")
        deliveries = await settled(gus)
    finally:
        stack.sms.status = 201
    assert [(d["channel"], d["status"], d["attempts"]) for d in deliveries] == [("sms", "failed", 1)]
    assert "HTTP 400" in deliveries[0]["lastError"]


async def test_quiet_hours_hold_push_and_sms_back_but_not_email(stack):
    hal = await person(stack)
    now = datetime.now(UTC)
    quiet = {"start": f"{(now.hour - 1) % 24:02d}:00", "end": f"{(now.hour + 2) % 24:02d}:00", "timeZone": "UTC"}
    await hal.call("PUT", "/notifications/preferences", 200, json={"quietHours": quiet})
    await hal.fund(10_000)
    await hal.buy(await stock(stack), 1, "100")

    async def email_sent() -> list[dict] | None:
        items = await hal.deliveries()
        return items if any(d["channel"] == "email" and d["status"] == "delivered" for d in items) else None

    deliveries = await eventually(email_sent)
    push = next(d for d in deliveries if d["channel"] == "push")
    assert push["status"] == "pending" and push["attempts"] == 0 and push["nextAttemptAt"] is not None
    assert hal.pushes() == []


# -- verification codes ------------------------------------------------------------------


def code_in(mail) -> str:
    return re.search(r"\b(\d{6})\b", mail.get_body(("plain",)).get_content()).group(1)


async def test_a_code_is_kept_hashed_allows_five_attempts_and_cannot_be_asked_for_again_at_once(stack):
    ivy = Person(stack)
    pending = await ivy.call("POST", "/notifications/contacts/email", 202, json={"address": ivy.email})
    assert pending["verified"] is False and pending["codeExpiresAt"]
    code = code_in((await eventually(lambda: stack.smtp.to(ivy.email)))[-1])
    row = await stack.runtime.pool.fetchrow(
        "SELECT * FROM notification_contacts WHERE user_id = $1 AND kind = 'email'", ivy.user_id)
    assert code not in " ".join(str(v) for v in row.values()) and len(row["code_hash"]) == 64
    # Asked again at once: refused, nothing sent.
    again = await ivy.call("POST", "/notifications/contacts/email", 409, json={"address": ivy.email})
    assert again["code"] == "code_recently_sent" and len(stack.smtp.to(ivy.email)) == 1
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for left in (4, 3, 2, 1):
        refused = await ivy.call("POST", "/notifications/contacts/email/verify", 422, json={"code": wrong})
        assert refused["code"] == "invalid_code" and f"{left} attempt" in refused["detail"]
    assert "last attempt" in (await ivy.call("POST", "/notifications/contacts/email/verify", 422,
                                             json={"code": wrong}))["detail"]
    used_up = await ivy.call("POST", "/notifications/contacts/email/verify", 422, json={"code": code})
    assert "used up" in used_up["detail"]
    # Later, a new code; an expired one is refused, the fresh one works.
    await stack.runtime.pool.execute(
        "UPDATE notification_contacts SET code_sent_at = code_sent_at - interval '1 minute' WHERE user_id = $1",
        ivy.user_id)
    await ivy.call("POST", "/notifications/contacts/email", 202, json={"address": ivy.email})
    fresh = code_in((await eventually(lambda: stack.smtp.to(ivy.email)[1:]))[-1])
    await stack.runtime.pool.execute(
        "UPDATE notification_contacts SET code_expires_at = now() - interval '1 second' WHERE user_id = $1",
        ivy.user_id)
    assert "expired" in (await ivy.call("POST", "/notifications/contacts/email/verify", 422,
                                        json={"code": fresh}))["detail"]
    await stack.runtime.pool.execute(
        "UPDATE notification_contacts SET code_expires_at = now() + interval '5 minutes' WHERE user_id = $1",
        ivy.user_id)
    await ivy.call("POST", "/notifications/contacts/email/verify", 200, json={"code": fresh})
    # The same address again: verified already, nothing sent. Another address: unverified until proven.
    same = await ivy.call("POST", "/notifications/contacts/email", 200,
                          json={"address": ivy.email.replace("example.com", "EXAMPLE.COM")})
    assert same["verified"] is True and len(stack.smtp.to(ivy.email)) == 2
    await stack.runtime.pool.execute(
        "UPDATE notification_contacts SET code_sent_at = now() - interval '1 minute' WHERE user_id = $1", ivy.user_id)
    await ivy.call("POST", "/notifications/contacts/email", 202, json={"address": "new-" + ivy.email})
    contacts = (await ivy.call("GET", "/notifications/preferences", 200))["contacts"]
    assert contacts["email"] == {"address": "new-" + ivy.email, "verified": False}


async def test_a_phone_code_comes_by_sms_and_a_refused_number_is_a_clear_422(stack):
    jo = Person(stack)
    stack.sms.status = 400
    try:
        refused = await jo.call("POST", "/notifications/contacts/phone", 422, json={"number": jo.phone})
    finally:
        stack.sms.status = 201
    assert refused["code"] == "contact_refused" and "HTTP 400" in refused["detail"]
    await stack.runtime.pool.execute(
        "UPDATE notification_contacts SET code_sent_at = now() - interval '1 minute' WHERE user_id = $1", jo.user_id)
    await jo.verify_phone()
    body = stack.sms.to(jo.phone)[-1].form["Body"]
    assert len(body) <= 160 and "expires in 10 min" in body
    assert (await jo.call("GET", "/notifications/preferences", 200))["contacts"]["phone"] == {
        "address": jo.phone, "verified": True}


async def test_deliveries_are_listed_newest_first_a_page_at_a_time(stack):
    kim = await person(stack, browser=False)
    await kim.fund(10_000)
    symbol = await stock(stack)
    for _ in range(3):
        await kim.buy(symbol, 1, "100")
        await settled(kim)
    first = await kim.call("GET", "/notifications/deliveries", 200, params={"limit": 2})
    assert len(first["items"]) == 2 and first["nextCursor"] == str(first["items"][1]["deliveryId"])
    rest = await kim.call("GET", "/notifications/deliveries", 200, params={"limit": 2, "cursor": first["nextCursor"]})
    ids = [d["deliveryId"] for d in first["items"] + rest["items"]]
    assert len(ids) == 3 and ids == sorted(ids, reverse=True) and rest["nextCursor"] is None
    assert {d["recipient"] for d in first["items"]} == {kim.email}
