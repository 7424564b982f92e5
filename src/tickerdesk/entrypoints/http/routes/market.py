"""Instruments, their last prices and the bars of their price history; public, like a quote board."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import TypeAdapter, ValidationError, WithJsonSchema

from tickerdesk.app.price_bars import INTERVALS, price_bars
from tickerdesk.app.services import Services
from tickerdesk.app.views import bars_view
from tickerdesk.domain.errors import InvalidRequest, NotFound
from tickerdesk.domain.money import plain
from tickerdesk.entrypoints.http.inputs import Instant
from tickerdesk.entrypoints.http.jsonio import ExactJSONResponse
from tickerdesk.entrypoints.http.limits import client_rate_limited
from tickerdesk.entrypoints.http.refusals import InvalidField, RateLimited
from tickerdesk.entrypoints.http.responses import Bars, Stock, StockList, answers
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


def _known(services: Services, symbol: str) -> str:
    if symbol.upper() not in services.instruments:
        raise NotFound(f"no stock {symbol!r}")
    return symbol.upper()


@router.get("/stocks/{symbol}", responses=answers(200, Stock, NotFound, RateLimited))
async def stock(request: Request, symbol: str) -> ExactJSONResponse:
    services = services_of(request)
    return ExactJSONResponse(_stock(services, _known(services, symbol)))


_INSTANT: TypeAdapter[datetime] = TypeAdapter(Instant)


def _instant(value: str | None, name: str) -> datetime | None:
    """A time as /transaction-history reads one (without an offset: UTC); else 422."""
    if value is None:
        return None
    try:
        return _INSTANT.validate_python(value)
    except ValidationError:
        raise InvalidField(f"query.{name}", "must be an RFC 3339 time, e.g. 2026-11-28T17:00:00Z") from None


# Plain text parameters: a bad interval or time is 422 (as the chart's contract says), not
# the 400 FastAPI would give a parameter it cannot convert.
Interval = Annotated[str, Query(description="the bar width", json_schema_extra={"enum": list(INTERVALS)})]
Time = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})] | None


@router.get("/stocks/{symbol}/bars", responses=answers(200, Bars, NotFound, InvalidRequest, RateLimited))
async def bars(request: Request, symbol: str, interval: Interval = "1m",
               from_: Annotated[Time, Query(alias="from", description="default: `to` - 60 intervals")] = None,
               to: Annotated[Time, Query(description="default: now")] = None) -> ExactJSONResponse:
    """OHLC bars of the recorded price feed, for charts: the bars whose start lies in
    [from, to), oldest first, on a UTC grid; at most 1000 intervals apart."""
    services = services_of(request)
    known = _known(services, symbol)
    found = await price_bars(services.queries, known, interval, _instant(from_, "from"), _instant(to, "to"),
                             services.clock)
    return ExactJSONResponse(bars_view(known, interval, found))
