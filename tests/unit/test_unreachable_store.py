"""A request whose database did not answer (a failover, a restart) is a 503 with
Retry-After that says the outcome is unknown, never a 500 that says nothing changed."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from tickerdesk.entrypoints.http import errors


@pytest.mark.parametrize("error", [asyncpg.CannotConnectNowError("the database system is starting up"),
                                   asyncpg.TooManyConnectionsError("sorry, too many clients already"),
                                   ConnectionResetError("reset by peer")])
async def test_a_store_that_did_not_answer_is_a_503_to_retry(error):
    app = FastAPI()
    errors.install(app)

    @app.post("/boom")
    async def boom() -> None:
        raise error

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post("/boom")
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert response.json()["code"] == "unavailable" and "Idempotency-Key" in response.json()["detail"]


async def test_anything_else_is_still_a_500():
    app = FastAPI()
    errors.install(app)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/boom")
    assert response.status_code == 500 and response.json()["code"] == "internal_error"
