"""The caller's money, holdings and notifications."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from ...app.views import balance_view, position_view
from ...domain.money import plain
from ..auth import Principal, current_user
from ..jsonio import ExactJSONResponse
from .common import page, runtime_of

router = APIRouter(tags=["account"])
User = Annotated[Principal, Depends(current_user)]
Limit = Annotated[int, Query(ge=1, le=500)]


@router.get("/balance")
async def balance(request: Request, user: User) -> ExactJSONResponse:
    runtime = runtime_of(request)
    return ExactJSONResponse(balance_view(user.user_id, await runtime.reads.balance(user.user_id)))


@router.get("/balance/ledger")
async def ledger(
    request: Request, user: User, limit: Limit = 50, cursor: Annotated[int | None, Query(ge=1)] = None
) -> ExactJSONResponse:
    """The cash journal, newest first: every deposit, withdrawal, hold, release, buy and sell."""
    entries = await runtime_of(request).reads.ledger(user.user_id, cursor=cursor, limit=limit)
    return page(entries, limit, lambda e: e["entryId"])


@router.get("/portfolio")
async def portfolio(request: Request, user: User) -> ExactJSONResponse:
    runtime = runtime_of(request)
    holdings = [
        position_view(p, runtime.prices.last(p.symbol)) for p in await runtime.reads.positions(user.user_id)
    ]
    total = plain(sum((h["marketValue"] for h in holdings if h["marketValue"] is not None), start=Decimal(0)))
    return ExactJSONResponse({"userId": user.user_id, "holdings": holdings, "totalValue": total})


@router.get("/notifications")
async def notifications(
    request: Request, user: User, after: Annotated[int | None, Query(ge=0)] = None, limit: Limit = 100
) -> ExactJSONResponse:
    """The inbox, oldest first after `after` (a `seq`); pass the last `seq` you saw to continue."""
    items = await runtime_of(request).reads.notifications(user.user_id, after=after, limit=limit)
    return ExactJSONResponse({"items": items, "next": items[-1]["seq"] if items else after})
