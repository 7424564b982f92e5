"""Instruments and their last prices; public, like a quote board."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from tickerdesk.domain.errors import NotFound
from tickerdesk.domain.money import plain
from tickerdesk.entrypoints.http.jsonio import ExactJSONResponse
from tickerdesk.entrypoints.http.limits import client_rate_limited
from tickerdesk.entrypoints.http.refusals import RateLimited
from tickerdesk.entrypoints.http.responses import Stock, StockList, answers
from tickerdesk.entrypoints.http.routes.common import services_of

# Public (no token), so limited per client address instead of per user.
router = APIRouter(tags=["market"], dependencies=[Depends(client_rate_limited("public"))])


def _stock(services, symbol: str) -> dict:
    instrument = services.instruments[symbol]
    return {
        "symbol": symbol,
        "name": instrument.name,
        "lotSize": instrument.lot_size,
        "active": instrument.active,
        "lastPrice": plain(services.prices.last(symbol)),
    }


@router.get("/stocks", responses=answers(200, StockList, RateLimited))
async def stocks(request: Request) -> ExactJSONResponse:
    services = services_of(request)
    return ExactJSONResponse({"items": [_stock(services, s) for s in sorted(services.instruments)]})


@router.get("/stocks/{symbol}", responses=answers(200, Stock, NotFound, RateLimited))
async def stock(request: Request, symbol: str) -> ExactJSONResponse:
    services = services_of(request)
    if symbol.upper() not in services.instruments:
        raise NotFound(f"no stock {symbol!r}")
    return ExactJSONResponse(_stock(services, symbol.upper()))
