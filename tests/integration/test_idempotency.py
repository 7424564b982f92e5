"""A retried placement returns the original trade and holds once."""

import asyncio
from decimal import Decimal as D

import httpx

from tests.conftest import ADMIN

ORDER = {"stockSymbol": "MSFT", "tradeType": "buy", "quantity": 2, "orderType": "limit", "limitPrice": 100}


async def test_the_same_idempotency_key_returns_the_original_trade_with_one_hold(trader):
    alice = await trader(1_000)
    first = await alice.place(**ORDER, headers={"Idempotency-Key": "k-1"})
    again = await alice.place(**ORDER, headers={"Idempotency-Key": "k-1"})
    assert again["tradeId"] == first["tradeId"]
    assert await alice.balance() == (D("800"), D("200"))
    assert len((await alice.get("/trades"))["items"]) == 1


async def test_the_same_client_order_id_returns_the_original_trade(trader):
    alice = await trader(1_000)
    first = await alice.place(**ORDER, clientOrderId="mine-1")
    response = await alice.client.post("/trade/place", json={**ORDER, "clientOrderId": "mine-1"}, headers=alice.headers)
    assert response.status_code == 201
    assert response.headers["idempotent-replayed"] == "true"
    assert response.json()["tradeId"] == first["tradeId"]
    assert await alice.balance() == (D("800"), D("200"))


async def test_a_key_reused_for_a_different_order_is_a_conflict(trader):
    alice = await trader(1_000)
    await alice.place(**ORDER, headers={"Idempotency-Key": "k-2"})
    conflict = await alice.place(expect=409, **{**ORDER, "quantity": 3}, headers={"Idempotency-Key": "k-2"})
    assert conflict["code"] == "idempotency_conflict"
    conflict = await alice.place(expect=409, **ORDER, clientOrderId="other", headers={"Idempotency-Key": "k-2"})
    assert conflict["code"] == "idempotency_conflict"
    assert await alice.balance() == (D("800"), D("200"))


async def test_keys_belong_to_their_user(trader):
    alice, bob = await trader(1_000), await trader(1_000)
    a = await alice.place(**ORDER, clientOrderId="shared")
    b = await bob.place(**ORDER, clientOrderId="shared")
    assert a["tradeId"] != b["tradeId"]


async def test_a_retry_still_finds_its_order_after_the_money_is_spent(trader):
    alice = await trader(200)
    first = await alice.place(**ORDER, headers={"Idempotency-Key": "k-3"})
    assert await alice.balance() == (D("0"), D("200"))
    again = await alice.place(**ORDER, headers={"Idempotency-Key": "k-3"})
    assert again["tradeId"] == first["tradeId"]


async def test_simultaneous_retries_place_one_order(trader):
    alice = await trader(1_000)
    responses = await asyncio.gather(
        *(
            alice.client.post("/trade/place", json=ORDER, headers={**alice.headers, "Idempotency-Key": "burst"})
            for _ in range(25)
        )
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["tradeId"] for r in responses}) == 1
    assert await alice.balance() == (D("800"), D("200"))


async def test_a_retried_deposit_is_credited_once(trader, client):
    alice = await trader()
    body = {"userId": alice.user_id, "amount": "250.5", "reference": "wire-77"}
    first = await client.post("/admin/deposits", json=body, headers=ADMIN)
    again = await client.post("/admin/deposits", json=body, headers=ADMIN)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.headers["idempotent-replayed"] == "true"
    assert await alice.balance() == (D("250.5"), D("0"))


async def test_a_funding_reference_reused_for_a_different_instruction_is_a_conflict(trader, client):
    alice, bob = await trader(), await trader()
    reference = f"wire-{alice.user_id}"

    async def fund(path: str, user: str, amount: str) -> httpx.Response:
        body = {"userId": user, "amount": amount, "reference": reference}
        return await client.post(path, json=body, headers=ADMIN)

    assert (await fund("/admin/deposits", alice.user_id, "100")).status_code == 201
    for path, user, amount in [("/admin/withdrawals", alice.user_id, "60"),  # another kind
                               ("/admin/deposits", alice.user_id, "5000"),  # another amount
                               ("/admin/deposits", bob.user_id, "100")]:  # another user
        response = await fund(path, user, amount)
        assert response.status_code == 409, (path, user, amount, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "idempotency_conflict"
    replay = await fund("/admin/deposits", alice.user_id, "100.00")  # the same instruction, spelled otherwise
    assert replay.status_code == 200
    assert replay.headers["idempotent-replayed"] == "true"
    assert await alice.balance() == (D("100"), D("0"))
    assert await bob.balance() == (D("0"), D("0"))


async def test_a_withdrawal_retried_after_the_money_is_gone_is_still_a_replay(trader, client):
    alice = await trader(100)
    body = {"userId": alice.user_id, "amount": "100", "reference": f"out-{alice.user_id}"}
    assert (await client.post("/admin/withdrawals", json=body, headers=ADMIN)).status_code == 201
    again = await client.post("/admin/withdrawals", json=body, headers=ADMIN)
    assert again.status_code == 200, again.text
    assert await alice.balance() == (D("0"), D("0"))


async def test_simultaneous_instructions_under_one_reference_apply_exactly_one(trader, client):
    users = [await trader() for _ in range(4)]
    reference = f"race-{users[0].user_id}"
    responses = await asyncio.gather(*(
        client.post("/admin/deposits", json={"userId": u.user_id, "amount": "10", "reference": reference},
                    headers=ADMIN)
        for u in users for _ in range(5)
    ))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 4 + [201] + [409] * 15, statuses
    balances = [await u.balance() for u in users]
    assert sorted(balances) == [(D("0"), D("0"))] * 3 + [(D("10"), D("0"))]
