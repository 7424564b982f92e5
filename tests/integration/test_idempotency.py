"""A retried placement returns the original trade and holds once."""

import asyncio
from decimal import Decimal as D

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
