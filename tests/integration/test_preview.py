"""POST /trade/preview: what a placement would hold, cost and be refused with; nothing written."""

from __future__ import annotations

from decimal import Decimal

from tests.conftest import exact


async def test_a_preview_shows_the_hold_and_the_refusal_and_changes_nothing(trader, symbol, client):
    alice = await trader(1000)
    stock = await symbol("100")
    body = {"stockSymbol": stock, "tradeType": "buy", "quantity": 9, "limitPrice": "100.5"}
    response = await client.post("/trade/preview", json=body, headers=alice.headers)
    assert response.status_code == 200, response.text
    assert exact(response) == {"ok": True, "holdAmount": Decimal("904.5"), "heldShares": None,
                               "holdPrice": Decimal("100.5"), "estimatedCost": Decimal("904.5"),
                               "available": Decimal("1000"), "error": None}

    too_much = await client.post("/trade/preview", json={**body, "quantity": 10, "orderType": "market",
                                                           "limitPrice": None}, headers=alice.headers)
    preview = exact(too_much)
    assert preview["ok"] is False and preview["holdAmount"] == Decimal("1050")  # 10 x the collar 105
    placed = await alice.place(expect=422, stockSymbol=stock, quantity=10)
    assert preview["error"] == placed  # the very problem a placement gets

    sell = exact(await client.post("/trade/preview", json={**body, "tradeType": "sell"}, headers=alice.headers))
    assert sell["error"]["code"] == "insufficient_shares" and sell["heldShares"] == 9 and sell["available"] == 0

    assert await alice.balance() == (Decimal("1000"), Decimal("0"))
    assert (await alice.get("/trades"))["items"] == []


async def test_a_preview_of_a_malformed_body_is_refused_like_a_placement(trader, client):
    alice = await trader()
    response = await client.post("/trade/preview", json={"stockSymbol": "AAPL", "tradeType": "buy", "quantity": 0},
                                 headers=alice.headers)
    assert response.status_code in (400, 422) and exact(response)["code"] == "invalid_request"
    assert (await client.post("/trade/preview", json={})).status_code == 401
