"""Orders: place, look up, cancel, list, history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, Request

from tickerdesk.app.cancel_order import cancel_order
from tickerdesk.app.place_order import place_order
from tickerdesk.app.views import trade_view
from tickerdesk.domain.errors import NotFound
from tickerdesk.domain.orders import HISTORY_STATUSES, Status
from tickerdesk.metrics import PLACEMENTS
from tickerdesk.bootstrap import Runtime, utcnow
from tickerdesk.entrypoints.http.auth import Principal
from tickerdesk.entrypoints.http.limits import rate_limited
from tickerdesk.entrypoints.http.jsonio import ExactJSONResponse, parse_model
from tickerdesk.entrypoints.http.schemas import KEY_PATTERN, PlaceOrderIn
from tickerdesk.entrypoints.http.routes.common import checked_id, json_body, page, runtime_of

router = APIRouter(tags=["trading"])
User = Annotated[Principal, Depends(rate_limited("read"))]
Placer = Annotated[Principal, Depends(rate_limited("place"))]
Canceler = Annotated[Principal, Depends(rate_limited("cancel"))]
Limit = Annotated[int, Query(ge=1, le=500)]


@router.post("/trade/place", status_code=201, openapi_extra=json_body(PlaceOrderIn))
async def place(
    request: Request,
    user: Placer,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", pattern=KEY_PATTERN)] = None,
) -> ExactJSONResponse:
    """Place an order. Retries with the same `Idempotency-Key` or `clientOrderId` return the original trade."""
    runtime = runtime_of(request)
    body = await parse_model(request, PlaceOrderIn, runtime.settings.max_body_bytes)
    placement = await place_order(
        user.user_id,
        body.to_request(),
        idempotency_key,
        commands=runtime.commands,
        instruments=runtime.instruments,
        prices=runtime.prices,
        now=utcnow(),
    )
    if placement.replayed:  # nothing changed: no cache to drop, nothing to count
        headers = {"Idempotent-Replayed": "true"}
    else:
        await runtime.cache.invalidate(user.user_id)
        PLACEMENTS.labels(str(placement.order.side), str(placement.order.order_type)).inc()
        headers = None
    return ExactJSONResponse(trade_view(placement.order), status_code=201, headers=headers)


async def _trade_or_404(runtime: Runtime, user: Principal, trade_id: str):
    found = await runtime.reads.trade(user.user_id, checked_id(trade_id, "trade"))
    if found is None:
        raise NotFound(f"no trade {trade_id}")  # another user's trade looks exactly like no trade
    return found


@router.get("/trade/{tradeId}")
async def get_trade(request: Request, tradeId: str, user: User) -> ExactJSONResponse:
    order, executions = await _trade_or_404(runtime_of(request), user, tradeId)
    return ExactJSONResponse({**trade_view(order), "executions": executions})


@router.post("/trade/{tradeId}/cancel", status_code=202)
async def cancel(request: Request, tradeId: str, user: Canceler) -> ExactJSONResponse:
    """Ask the venue to cancel; the trade becomes `canceled` when the venue confirms."""
    runtime = runtime_of(request)
    order = await cancel_order(user.user_id, checked_id(tradeId, "trade"), commands=runtime.commands, now=utcnow())
    return ExactJSONResponse(trade_view(order), status_code=202)


@router.get("/trades")
async def list_trades(
    request: Request,
    user: User,
    status: Status | None = None,
    stockSymbol: Annotated[str | None, Query(max_length=12)] = None,
    limit: Limit = 50,
    cursor: UUID | None = None,
) -> ExactJSONResponse:
    orders = await runtime_of(request).reads.trades(
        user.user_id,
        statuses=[status.value] if status else None,
        symbol=stockSymbol.upper() if stockSymbol else None,
        cursor=str(cursor) if cursor else None,
        limit=limit,
    )
    return page([trade_view(o) for o in orders], limit, lambda item: item["tradeId"])


@router.get("/transaction-history")
async def transaction_history(
    request: Request,
    user: User,
    stockSymbol: Annotated[str | None, Query(max_length=12)] = None,
    status: Status | None = None,
    from_: Annotated[datetime | None, Query(alias="from")] = None,
    to: datetime | None = None,
    limit: Limit = 50,
    cursor: UUID | None = None,
) -> ExactJSONResponse:
    """Trades that executed (fully or partly), were canceled, expired or were rejected.

    Served by the history read model, which trails the trades by the projection lag
    (milliseconds in one process; see the README for the production figure)."""
    statuses = HISTORY_STATUSES if status is None else [status.value] if status.value in HISTORY_STATUSES else []
    trades = await runtime_of(request).history.trades(
        user.user_id,
        statuses=statuses,
        symbol=stockSymbol.upper() if stockSymbol else None,
        since=from_,
        until=to,
        cursor=str(cursor) if cursor else None,
        limit=limit,
    )
    return page(trades, limit, lambda item: item["tradeId"])
