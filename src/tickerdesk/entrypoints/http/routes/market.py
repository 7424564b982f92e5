"""Instruments and their last prices; public, like a quote board."""

from __future__ import annotations

from fastapi import APIRouter, Request

from tickerdesk.domain.errors import NotFound
from tickerdesk.domain.money import plain
from tickerdesk.entrypoints.http.jsonio import ExactJSONResponse
from tickerdesk.entrypoints.http.routes.common import runtime_of

router = APIRouter(tags=["market"])


def _stock(runtime, symbol: str) -> dict:
    instrument = runtime.instruments[symbol]
    return {
        "symbol": symbol,
        "name": instrument.name,
        "lotSize": instrument.lot_size,
        "active": instrument.active,
        "lastPrice": plain(runtime.prices.last(symbol)),
    }


@router.get("/stocks")
async def stocks(request: Request) -> ExactJSONResponse:
    runtime = runtime_of(request)
    return ExactJSONResponse({"items": [_stock(runtime, s) for s in sorted(runtime.instruments)]})


@router.get("/stocks/{symbol}")
async def stock(request: Request, symbol: str) -> ExactJSONResponse:
    runtime = runtime_of(request)
    if symbol.upper() not in runtime.instruments:
        raise NotFound(f"no stock {symbol!r}")
    return ExactJSONResponse(_stock(runtime, symbol.upper()))
