"""Refusals read as sentences for the client: no pydantic `Value error, ` prefix, no
`None: ` for an error of the whole body, and an insufficient-funds refusal says how much
is available (or how many shares are free to sell)."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import FastAPI, Query
from pydantic import AfterValidator

from tests.conftest import ADMIN
from tickerdesk.entrypoints.http import errors


def assert_plain(body: dict, field: str | None, message: str) -> None:
    assert body["errors"] == [{"field": field, "message": message}], body
    assert body["detail"] == (f"{field}: {message}" if field else message), body


async def test_a_body_validator_message_has_no_pydantic_prefix(client, trader):
    alice = await trader(1000)
    order = {"stockSymbol": "AAPL", "quantity": 1, "tradeType": "buy"}
    response = await client.post("/trade/place", json={**order, "limitPrice": "abc"}, headers=alice.headers)
    assert response.status_code == 422
    assert_plain(response.json(), "limitPrice", 'must be a number or a decimal string such as "189.50"')
    response = await client.post("/trade/place", json={**order, "limitPrice": 100, "pricePerShare": 101},
                                 headers=alice.headers)
    assert_plain(response.json(), None, "limitPrice and pricePerShare disagree")
    response = await client.post("/webhooks", json={"url": "ftp://example.com/hook"}, headers=alice.headers)
    assert_plain(response.json(), "url", "must be an http:// or https:// URL")


def _even(value: int) -> int:
    if value % 2:
        raise ValueError("must be even")
    return value


async def test_a_parameter_validator_message_has_no_pydantic_prefix():
    """Query, path and header parameters are validated by FastAPI (a 400 from errors._validation_error)."""
    app = FastAPI()
    errors.install(app)

    @app.get("/even")
    async def even(n: Annotated[int, AfterValidator(_even), Query()]) -> dict:
        return {"n": n}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://tickerdesk") as c:
        response = await c.get("/even", params={"n": 3})
    assert response.status_code == 400
    assert_plain(response.json(), "query.n", "must be even")


async def test_insufficient_funds_says_how_much_is_available(client, trader):
    alice = await trader("1000.5")
    response = await client.post("/trade/place", json={"stockSymbol": "AAPL", "quantity": 10, "tradeType": "buy",
                                                       "limitPrice": 150}, headers=alice.headers)
    assert response.status_code == 422
    assert response.json()["code"] == "insufficient_funds"
    assert response.json()["detail"] == "1500 is needed and 1000.5 is available"
    nobody = await trader()
    response = await client.post("/trade/place", json={"stockSymbol": "AAPL", "quantity": 1, "tradeType": "buy",
                                                       "limitPrice": 150}, headers=nobody.headers)
    assert response.json()["detail"] == "150 is needed and 0 is available"
    response = await client.post("/admin/withdrawals", json={"userId": alice.user_id, "amount": 2000}, headers=ADMIN)
    assert response.status_code == 422
    assert response.json()["detail"] == "2000 is needed and 1000.5 is available"


async def test_insufficient_shares_says_how_many_are_free(client, trader):
    alice = await trader(1000)
    response = await client.post("/trade/place", json={"stockSymbol": "AAPL", "quantity": 5, "tradeType": "sell",
                                                       "limitPrice": 150}, headers=alice.headers)
    assert response.status_code == 422
    assert response.json()["code"] == "insufficient_shares"
    assert response.json()["detail"] == "5 AAPL shares are needed and 0 are free to sell"
