"""The caller's money, holdings and notifications."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from tickerdesk.app.views import balance_view, holding_view, position_from_view, position_view
from tickerdesk.domain.money import plain
from tickerdesk.entrypoints.http.auth import Principal
from tickerdesk.entrypoints.http.limits import rate_limited
from tickerdesk.entrypoints.http.jsonio import ExactJSONResponse
from tickerdesk.entrypoints.http.routes.common import page, runtime_of

router = APIRouter(tags=["account"])
User = Annotated[Principal, Depends(rate_limited("read"))]
Limit = Annotated[int, Query(ge=1, le=500)]


@router.get("/balance")
async def balance(request: Request, user: User) -> ExactJSONResponse:
    """Served from the cache when fresh; every change to the balance drops the entry."""
    runtime = runtime_of(request)

    async def load() -> dict:
        return balance_view(user.user_id, await runtime.reads.balance(user.user_id))

    return ExactJSONResponse(await cached(runtime, "balance", user.user_id, load))


@router.get("/balance/ledger")
async def ledger(
    request: Request, user: User, limit: Limit = 50, cursor: Annotated[int | None, Query(ge=1)] = None
) -> ExactJSONResponse:
    """The cash journal, newest first: every deposit, withdrawal, hold, release, buy and sell."""
    entries = await runtime_of(request).reads.ledger(user.user_id, cursor=cursor, limit=limit)
    return page(entries, limit, lambda e: e["entryId"])


@router.get("/portfolio")
async def portfolio(request: Request, user: User) -> ExactJSONResponse:
    """Positions come from the cache when fresh; they are valued at the current price."""
    runtime = runtime_of(request)

    async def load() -> dict:
        return {"positions": [holding_view(p) for p in await runtime.reads.positions(user.user_id)]}

    positions = (await cached(runtime, "portfolio", user.user_id, load))["positions"]
    holdings = [position_view(position_from_view(p), runtime.prices.last(p["stockSymbol"])) for p in positions]
    total = plain(sum((h["marketValue"] for h in holdings if h["marketValue"] is not None), start=Decimal(0)))
    return ExactJSONResponse({"userId": user.user_id, "holdings": holdings, "totalValue": total})


async def cached(runtime, kind: str, user_id: str, load) -> dict:
    """Read through the cache. The version is taken before the database read, so a
    value read before a concurrent change is never stored after its invalidation."""
    value = await runtime.cache.get(kind, user_id)
    if value is None:
        version = await runtime.cache.version(user_id)
        value = await load()
        await runtime.cache.put(kind, user_id, value, version=version)
    return value


@router.get("/notifications")
async def notifications(
    request: Request, user: User, after: Annotated[int | None, Query(ge=0)] = None, limit: Limit = 100
) -> ExactJSONResponse:
    """The inbox, oldest first after `after` (a `seq`); pass the last `seq` you saw to continue."""
    items = await runtime_of(request).reads.notifications(user.user_id, after=after, limit=limit)
    return ExactJSONResponse({"items": items, "next": items[-1]["seq"] if items else after})
