"""The notification settings routes on the session's runtime (its email and SMS are the
log channels): preferences and their validation, push subscriptions and their
validation, and what another user can see (nothing)."""

from __future__ import annotations

import uuid

from tests.conftest import exact
from tests.integration.notification_servers import Browser

DEFAULTS = {
    "trade.placed": [], "trade.executed": ["email", "push"], "trade.partiallyExecuted": ["email", "push"],
    "trade.canceled": ["email", "push"], "trade.expired": ["email", "push"], "trade.rejected": ["email", "push"],
    "balance.updated": [],
}


async def put(user, body, expect: int = 200) -> dict:
    response = await user.client.put("/notifications/preferences", json=body, headers=user.headers)
    assert response.status_code == expect, response.text
    return exact(response)


async def test_a_new_user_has_the_defaults_and_no_contacts(trader):
    ada = await trader()
    assert await ada.get("/notifications/preferences") == {
        "channels": DEFAULTS, "contacts": {"email": None, "phone": None}, "pushSubscriptions": 0, "quietHours": None}


async def test_changing_some_types_keeps_the_others_and_quiet_hours_until_told(trader):
    bo = await trader()
    changed = await put(bo, {"channels": {"trade.placed": ["sms", "push", "sms"], "trade.executed": []},
                             "quietHours": {"start": "22:30", "end": "07:00", "timeZone": "Europe/Paris"}})
    assert changed["channels"] == {**DEFAULTS, "trade.placed": ["push", "sms"], "trade.executed": []}
    assert changed["quietHours"] == {"start": "22:30", "end": "07:00", "timeZone": "Europe/Paris"}
    again = await put(bo, {"channels": {"balance.updated": ["email"]}})
    assert again["channels"]["trade.placed"] == ["push", "sms"] and again["quietHours"] is not None
    assert (await put(bo, {"quietHours": None}))["quietHours"] is None
    assert await bo.get("/notifications/preferences") == {**again, "quietHours": None}


async def test_bad_preferences_are_refused_with_the_field_named(trader):
    cy = await trader()
    for body in ({"channels": {"portfolio.updated": ["email"]}}, {"channels": {"trade.placed": ["fax"]}},
                 {"channels": {"trade.placed": "email"}}, {"quietHours": {"start": "25:00", "end": "07:00",
                                                                          "timeZone": "UTC"}},
                 {"surprise": 1}, {"channels": []}):
        refused = await put(cy, body, expect=422)
        assert refused["code"] == "invalid_request" and refused["errors"], body
    for zone in ("Mars/Olympus", "America"):
        refused = await put(cy, {"quietHours": {"start": "22:00", "end": "07:00", "timeZone": zone}}, expect=422)
        assert "time zone" in refused["detail"]
    refused = await put(cy, {"quietHours": {"start": "07:00", "end": "07:00", "timeZone": "UTC"}}, expect=422)
    assert "differ" in refused["detail"]
    assert (await cy.get("/notifications/preferences"))["channels"] == DEFAULTS  # nothing changed


async def test_contacts_are_validated_before_any_code_is_sent(trader):
    di = await trader()
    for path, body in (("email", {"address": "not-an-address"}), ("email", {"address": "a@localhost"}),
                       ("phone", {"number": "4155550123"}), ("phone", {"number": "+1 415 CALL ME"})):
        response = await di.client.post(f"/notifications/contacts/{path}", json=body, headers=di.headers)
        assert response.status_code == 422 and response.json()["code"] == "invalid_request", response.text
    response = await di.client.post("/notifications/contacts/email/verify", json={"code": "123456"},
                                    headers=di.headers)
    assert response.status_code == 422 and response.json()["code"] == "invalid_code"
    response = await di.client.post("/notifications/contacts/email/verify", json={"code": "12345"},
                                    headers=di.headers)
    assert response.status_code == 422 and response.json()["code"] == "invalid_request"
    assert (await di.get("/notifications/preferences"))["contacts"] == {"email": None, "phone": None}


async def subscribe(user, body, expect: int = 201) -> dict:
    response = await user.client.post("/notifications/push-subscriptions", json=body, headers=user.headers)
    assert response.status_code == expect, response.text
    return exact(response)


async def test_a_browser_registers_once_per_endpoint_and_can_leave(trader):
    ed, other = await trader(), await trader()
    browser = Browser()
    endpoint = f"http://127.0.0.1:9/push/{uuid.uuid4().hex}"  # the session allows 127.0.0.1 for webhooks only
    refused = await subscribe(ed, browser.subscription(endpoint), expect=422)
    assert refused["code"] == "unsafe_push_endpoint"
    endpoint = "https://push.invalid/wpush/v2/" + uuid.uuid4().hex  # does not resolve: the sender's guard decides
    first = await subscribe(ed, browser.subscription(endpoint))
    again = await subscribe(ed, Browser().subscription(endpoint))  # new keys, same endpoint: the same subscription
    assert again["subscriptionId"] == first["subscriptionId"] and first["endpoint"] == endpoint
    assert (await ed.get("/notifications/push-subscriptions"))["items"] == [first]
    assert (await ed.get("/notifications/preferences"))["pushSubscriptions"] == 1
    path = f"/notifications/push-subscriptions/{first['subscriptionId']}"
    assert (await other.client.delete(path, headers=other.headers)).status_code == 404
    assert (await other.get("/notifications/push-subscriptions"))["items"] == []
    assert (await ed.client.delete(path, headers=ed.headers)).status_code == 204
    assert (await ed.client.delete(path, headers=ed.headers)).status_code == 404
    assert (await ed.get("/notifications/push-subscriptions"))["items"] == []


async def test_push_subscriptions_that_could_never_work_are_refused(trader):
    fay = await trader()
    good = Browser().subscription("https://push.invalid/x")
    bad_keys = [{**good["keys"], "p256dh": good["keys"]["p256dh"][:-4] + "AAAA"},  # not a point on the curve
                {**good["keys"], "auth": "c2hvcnQ"}, {"p256dh": good["keys"]["p256dh"]}]
    for keys in bad_keys:
        assert (await subscribe(fay, {**good, "keys": keys}, expect=422))["code"] == "invalid_request"
    for endpoint, code in (("ftp://push.invalid/x", "invalid_request"), ("https:///nohost", "invalid_request"),
                           ("http://push.invalid/x", "unsafe_push_endpoint"),
                           ("https://10.1.2.3/x", "unsafe_push_endpoint"),
                           ("https://169.254.169.254/latest", "unsafe_push_endpoint")):
        assert (await subscribe(fay, {**good, "endpoint": endpoint}, expect=422))["code"] == code, endpoint


async def test_the_push_key_is_a_p256_point_and_deliveries_start_empty(trader):
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.integration.notification_servers import unb64url

    gus = await trader()
    key = (await gus.get("/notifications/push-key"))["publicKey"]
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
    assert await gus.get("/notifications/deliveries") == {"items": [], "nextCursor": None}


async def test_an_unsubscribe_link_that_is_not_ours_is_refused(client):
    for token in ("nope", "a.b", "x" * 1025):
        for method in ("GET", "POST"):
            response = await client.request(method, "/notifications/unsubscribe", params={"token": token})
            assert response.status_code in (400, 422) and response.headers["content-type"] == "application/problem+json"
    assert (await client.get("/notifications/unsubscribe")).status_code == 400
