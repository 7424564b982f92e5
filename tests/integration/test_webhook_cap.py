"""The cap of webhooks per user holds under concurrency: registrations racing each
other must not all see room under the cap and all insert."""

from __future__ import annotations

import asyncio

from tickerdesk.adapters.postgres.webhooks import MAX_WEBHOOKS_PER_USER


async def test_sixty_simultaneous_registrations_leave_exactly_the_cap_active(trader):
    alice = await trader()
    attempts = 3 * MAX_WEBHOOKS_PER_USER
    responses = await asyncio.gather(*(
        alice.client.post("/webhooks", json={"url": f"https://hooks.invalid/cap/{n}"}, headers=alice.headers)
        for n in range(attempts)
    ))
    try:
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201] * MAX_WEBHOOKS_PER_USER + [422] * (attempts - MAX_WEBHOOKS_PER_USER), statuses
        assert {r.json()["code"] for r in responses if r.status_code == 422} == {"invalid_request"}
        active = (await alice.client.get("/webhooks", headers=alice.headers)).json()["items"]
        assert len(active) == MAX_WEBHOOKS_PER_USER
    finally:
        for r in responses:
            if r.status_code == 201:
                await alice.client.delete(f"/webhooks/{r.json()['webhookId']}", headers=alice.headers)


async def test_a_deleted_webhook_frees_its_place_under_the_cap(trader):
    alice = await trader()
    created = []
    for n in range(MAX_WEBHOOKS_PER_USER):
        response = await alice.client.post("/webhooks", json={"url": f"https://hooks.invalid/free/{n}"},
                                           headers=alice.headers)
        assert response.status_code == 201, response.text
        created.append(response.json()["webhookId"])
    full = await alice.client.post("/webhooks", json={"url": "https://hooks.invalid/one-more"}, headers=alice.headers)
    assert full.status_code == 422
    assert (await alice.client.delete(f"/webhooks/{created.pop()}", headers=alice.headers)).status_code == 204
    again = await alice.client.post("/webhooks", json={"url": "https://hooks.invalid/one-more"}, headers=alice.headers)
    assert again.status_code == 201, again.text
    created.append(again.json()["webhookId"])
    for webhook_id in created:
        await alice.client.delete(f"/webhooks/{webhook_id}", headers=alice.headers)
