"""Operator routes (admin scope): funding, and the simulated venue's controls."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from tickerdesk.app.funding import fund
from tickerdesk.app.views import balance_view, rfc3339
from tickerdesk.domain.accounting import LedgerKind
from tickerdesk.domain.errors import IdempotencyConflict, InsufficientFunds, UnknownSymbol
from tickerdesk.domain.money import plain
from tickerdesk.entrypoints.http.auth import Principal
from tickerdesk.entrypoints.http.jsonio import ExactJSONResponse, parse_model
from tickerdesk.entrypoints.http.limits import rate_limited
from tickerdesk.entrypoints.http.responses import REPLAYED_ALWAYS, Balance, SessionClosed, SimPrice, answers
from tickerdesk.entrypoints.http.routes.common import json_body, services_of, settings_of
from tickerdesk.entrypoints.http.schemas import FundingIn, IdempotencyKey, SimPriceIn

router = APIRouter(tags=["admin"])
Admin = Annotated[Principal, Depends(rate_limited("admin", admin=True))]
# A retried funding instruction (same reference) answers 200 with the balance as it is now.
REPLAY = {200: (Balance, "A retry: nothing new was done; the balance as it is now", REPLAYED_ALWAYS)}


async def _fund(request: Request, kind: LedgerKind, idempotency_key: str | None) -> ExactJSONResponse:
    services = services_of(request)
    body = await parse_model(request, FundingIn, settings_of(request).max_body_bytes)
    reference = body.reference or idempotency_key
    balance = await fund(body.user_id, kind, body.amount, reference, commands=services.commands,
                         clock=services.clock)
    if balance is None:  # a retried instruction: report the balance as it is now
        balance = await services.queries.balance(body.user_id)
        return ExactJSONResponse(balance_view(body.user_id, balance), headers={"Idempotent-Replayed": "true"})
    return ExactJSONResponse(balance_view(body.user_id, balance), status_code=201)


@router.post("/admin/deposits", status_code=201, openapi_extra=json_body(FundingIn),
             responses=answers(201, Balance, IdempotencyConflict, also=REPLAY))
async def deposit(request: Request, admin: Admin, idempotency_key: IdempotencyKey = None) -> ExactJSONResponse:
    """Credit a user's available cash. `reference` (or `Idempotency-Key`) makes retries safe."""
    return await _fund(request, LedgerKind.DEPOSIT, idempotency_key)


@router.post("/admin/withdrawals", status_code=201, openapi_extra=json_body(FundingIn),
             responses=answers(201, Balance, InsufficientFunds, IdempotencyConflict, also=REPLAY))
async def withdraw(request: Request, admin: Admin, idempotency_key: IdempotencyKey = None) -> ExactJSONResponse:
    """Debit a user's available cash; never more than is available."""
    return await _fund(request, LedgerKind.WITHDRAWAL, idempotency_key)


@router.put("/sim/stocks/{symbol}", openapi_extra=json_body(SimPriceIn),
            responses=answers(200, SimPrice, UnknownSymbol))
async def set_price(request: Request, symbol: str, admin: Admin) -> ExactJSONResponse:
    """Simulated venue only: set the price (a price update: working orders may fill)."""
    services = services_of(request)
    symbol = symbol.upper()
    if symbol not in services.instruments:
        raise UnknownSymbol(f"{symbol!r} is not a tradable symbol")
    body = await parse_model(request, SimPriceIn, settings_of(request).max_body_bytes)
    await services.sim.set_price(symbol, body.price, body.liquidity)
    return ExactJSONResponse({"symbol": symbol, "price": plain(body.price), "liquidity": body.liquidity})


@router.post("/sim/session/close", responses=answers(200, SessionClosed))
async def close_session(request: Request, admin: Admin) -> ExactJSONResponse:
    """Simulated venue only: end the trading day now. Every `day` order accepted before
    `closedAt` expires, also one still on its way to the venue; later ones are the next day's."""
    services = services_of(request)
    at = services.clock.now()  # the clock that stamps orders: "before" means by the same clock
    await services.sim.close_session(at)
    return ExactJSONResponse({"closed": True, "closedAt": rfc3339(at)})
