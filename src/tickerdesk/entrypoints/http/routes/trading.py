"""Orders: place, look up, cancel, list, history."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request

from tickerdesk.app.cancel_order import cancel_order
from tickerdesk.app.place_order import place_order
from tickerdesk.app.preview_order import preview_order
from tickerdesk.app.services import Services
from tickerdesk.app.views import trade_view
from tickerdesk.domain.errors import (
    IdempotencyConflict,
    InsufficientFunds,
    InsufficientShares,
    NotCancelable,
    NotFound,
    PriceOutOfBand,
    UnknownSymbol,
)
from tickerdesk.domain.money import plain
from tickerdesk.domain.orders import HISTORY_STATUSES, Order, Side, Status
from tickerdesk.entrypoints.http import page_tokens
from tickerdesk.entrypoints.http.auth import Principal
from tickerdesk.entrypoints.http.errors import problem_body, status_of
from tickerdesk.entrypoints.http.inputs import Instant
from tickerdesk.entrypoints.http.jsonio import ExactJSONResponse, parse_model
from tickerdesk.entrypoints.http.limits import rate_limited
from tickerdesk.entrypoints.http.page_tokens import HistoryCursor
from tickerdesk.entrypoints.http.responses import (
    REPLAYED,
    OrderPreview,
    Trade,
    TradePage,
    TradeWithExecutions,
    answers,
)
from tickerdesk.entrypoints.http.routes.common import checked_id, json_body, page, services_of, settings_of
from tickerdesk.entrypoints.http.schemas import IdempotencyKey, PlaceOrderIn

router = APIRouter(tags=["trading"])
User = Annotated[Principal, Depends(rate_limited("read"))]
Placer = Annotated[Principal, Depends(rate_limited("place"))]
Canceler = Annotated[Principal, Depends(rate_limited("cancel"))]
Limit = Annotated[int, Query(ge=1, le=500)]


@router.post("/trade/place", status_code=201, openapi_extra=json_body(PlaceOrderIn), responses=answers(
    201, Trade, UnknownSymbol, InsufficientFunds, InsufficientShares, PriceOutOfBand, IdempotencyConflict,
    headers=REPLAYED, description="The trade; a retry answers the original one"))
async def place(
    request: Request,
    user: Placer,
    idempotency_key: IdempotencyKey = None,
) -> ExactJSONResponse:
    """Place an order. Retries with the same `Idempotency-Key` or `clientOrderId` return the original trade."""
    services = services_of(request)
    body = await parse_model(request, PlaceOrderIn, settings_of(request).max_body_bytes)
    placement = await place_order(
        user.user_id,
        body.to_request(),
        idempotency_key,
        commands=services.commands,
        instruments=services.instruments,
        prices=services.prices,
        clock=services.clock,
    )
    headers = {"Idempotent-Replayed": "true"} if placement.replayed else None
    return ExactJSONResponse(trade_view(placement.order), status_code=201, headers=headers)


@router.post("/trade/preview", openapi_extra=json_body(PlaceOrderIn), responses=answers(
    200, OrderPreview, description="What a placement would hold and cost, and the refusal it would get"))
async def preview(request: Request, user: User) -> ExactJSONResponse:
    """The checks and hold arithmetic of a placement with nothing written: a refusal the
    placement would get now is `error`, not this answer's status."""
    services = services_of(request)
    body = await parse_model(request, PlaceOrderIn, settings_of(request).max_body_bytes)
    result = await preview_order(user.user_id, body.to_request(), queries=services.queries,
                                 instruments=services.instruments, prices=services.prices)
    error = result.error
    return ExactJSONResponse({
        "ok": result.ok,
        "holdAmount": plain(result.hold_amount),
        "heldShares": result.held_shares,
        "holdPrice": plain(result.hold_price),
        "estimatedCost": plain(result.estimated_cost),
        "available": plain(result.available),
        "error": None if error is None else problem_body(status_of(error), error.code, error.detail),
    })


async def _trade_or_404(services: Services, user: Principal, trade_id: str) -> tuple[Order, list[dict[str, Any]]]:
    found = await services.queries.trade(user.user_id, checked_id(trade_id, "trade"))
    if found is None:
        raise NotFound(f"no trade {trade_id}")  # another user's trade looks exactly like no trade
    return found


@router.get("/trade/{tradeId:id}", responses=answers(200, TradeWithExecutions, NotFound))
async def get_trade(request: Request, tradeId: str, user: User) -> ExactJSONResponse:
    order, executions = await _trade_or_404(services_of(request), user, tradeId)
    return ExactJSONResponse({**trade_view(order), "executions": executions})


@router.post("/trade/{tradeId:id}/cancel", status_code=202, responses=answers(202, Trade, NotFound, NotCancelable))
async def cancel(request: Request, tradeId: str, user: Canceler) -> ExactJSONResponse:
    """Ask the venue to cancel; the trade becomes `canceled` when the venue confirms."""
    services = services_of(request)
    order = await cancel_order(user.user_id, checked_id(tradeId, "trade"), commands=services.commands,
                               clock=services.clock)
    return ExactJSONResponse(trade_view(order), status_code=202)


@router.get("/trades", responses=answers(200, TradePage))
async def list_trades(
    request: Request,
    user: User,
    status: Status | None = None,
    stockSymbol: Annotated[str | None, Query(max_length=12)] = None,
    limit: Limit = 50,
    cursor: UUID | None = None,
) -> ExactJSONResponse:
    orders = await services_of(request).queries.trades(
        user.user_id,
        statuses=[status.value] if status else None,
        symbol=stockSymbol.upper() if stockSymbol else None,
        cursor=str(cursor) if cursor else None,
        limit=limit,
    )
    return page([trade_view(o) for o in orders], limit, lambda item: item["tradeId"])


@router.get("/transaction-history", responses=answers(200, TradePage))
async def transaction_history(
    request: Request,
    user: User,
    stockSymbol: Annotated[str | None, Query(max_length=12)] = None,
    status: Status | None = None,
    tradeType: Side | None = None,
    from_: Annotated[Instant | None, Query(alias="from")] = None,
    to: Instant | None = None,
    limit: Limit = 50,
    cursor: HistoryCursor = None,
) -> ExactJSONResponse:
    """Trades that executed (fully or partly), were canceled, expired or were rejected;
    `stockSymbol`, `status`, `tradeType` (buy or sell) and `from`/`to` filter them.

    Served by the history read model, which trails the trades by the projection lag
    (milliseconds in one process; see the README for the production figure)."""
    statuses: list[str] = (
        HISTORY_STATUSES if status is None else [status.value] if status.value in HISTORY_STATUSES else []
    )
    trades = await services_of(request).history.trades(
        user.user_id,
        statuses=statuses,
        symbol=stockSymbol.upper() if stockSymbol else None,
        since=from_,
        until=to,
        cursor=cursor,  # the trade id the token names
        limit=limit,
        side=tradeType.value if tradeType else None,
    )
    return page(trades, limit, lambda item: page_tokens.encode(item["tradeId"]))
