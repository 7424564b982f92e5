"""The caller's money, holdings and notifications."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from tickerdesk.app.services import Services
from tickerdesk.app.views import balance_view, holding_view, position_view
from tickerdesk.codec import encode_notification, position_from_view
from tickerdesk.domain.money import plain
from tickerdesk.entrypoints.http.auth import Principal
from tickerdesk.entrypoints.http.inputs import MAX_BIGINT
from tickerdesk.entrypoints.http.jsonio import ExactJSONResponse
from tickerdesk.entrypoints.http.limits import rate_limited
from tickerdesk.entrypoints.http.responses import Balance, LedgerPage, NotificationPage, Portfolio, answers
from tickerdesk.entrypoints.http.routes.common import page, services_of
from tickerdesk.metrics import CACHE_READS

router = APIRouter(tags=["account"])
User = Annotated[Principal, Depends(rate_limited("read"))]
Limit = Annotated[int, Query(ge=1, le=500)]


@router.get("/balance", responses=answers(200, Balance))
async def balance(request: Request, user: User) -> ExactJSONResponse:
    """Served from the cache when fresh; every change to the balance drops the entry.
    `Cache-Control: no-cache` reads the database."""
    services = services_of(request)

    async def load() -> dict[str, Any]:
        return balance_view(user.user_id, await services.queries.balance(user.user_id))

    return ExactJSONResponse(await cached(services, "balance", user.user_id, load, no_cache(request),
                                            missed(request)))


@router.get("/balance/ledger", responses=answers(200, LedgerPage))
async def ledger(
    request: Request, user: User, limit: Limit = 50, cursor: Annotated[int | None, Query(ge=1, le=MAX_BIGINT)] = None
) -> ExactJSONResponse:
    """The cash journal, newest first: every deposit, withdrawal, hold, release, buy and sell."""
    entries = await services_of(request).queries.ledger(user.user_id, cursor=cursor, limit=limit)
    return page(entries, limit, lambda e: e["entryId"])


@router.get("/portfolio", responses=answers(200, Portfolio))
async def portfolio(request: Request, user: User) -> ExactJSONResponse:
    """Positions come from the cache when fresh (`Cache-Control: no-cache`: from the
    database); they are valued at the current price."""
    services = services_of(request)

    async def load() -> dict[str, Any]:
        return {"positions": [holding_view(p) for p in await services.queries.positions(user.user_id)]}

    positions = await cached(services, "portfolio", user.user_id, load, no_cache(request), missed(request))
    return ExactJSONResponse(portfolio_body(services, user.user_id, positions))


def portfolio_body(services: Services, user_id: str, positions: dict[str, Any]) -> dict[str, Any]:
    """The cached positions valued at the current prices (also for `cached_reads`)."""
    holdings = [position_view(position_from_view(p), services.prices.last(p["stockSymbol"]))
                for p in positions["positions"]]
    total = plain(sum((h["marketValue"] for h in holdings if h["marketValue"] is not None), start=Decimal(0)))
    return {"userId": user_id, "holdings": holdings, "totalValue": total}


def no_cache(request: Request) -> bool:
    return asks_no_cache(request.headers.get("cache-control"))


def missed(request: Request) -> bool:
    """`cached_reads` already looked in the cache for this request and found nothing: not
    a second round trip to Redis for the same answer."""
    return bool(getattr(request.state, "cache_missed", False))


def asks_no_cache(cache_control: str | None) -> bool:
    """`Cache-Control: no-cache` (RFC 9111, 5.2.1.4): the caller wants the database's
    answer, not a stored one (an operator checking a complaint, `tickerdesk bench`
    measuring what the cache saves). The answer still refreshes the cache."""
    return cache_control is not None and "no-cache" in cache_control.lower()


async def cached(services: Services, kind: str, user_id: str,
                 load: Callable[[], Awaitable[dict[str, Any]]], bypass: bool = False,
                 known_miss: bool = False) -> dict[str, Any]:
    """Read through the cache. The version is taken before the database read, so a
    value read before a concurrent change is never stored after its invalidation."""
    value = None if bypass or known_miss else await services.cache.get(kind, user_id)
    if value is not None:
        CACHE_READS.labels(kind, "hit").inc()
        return value
    CACHE_READS.labels(kind, "miss" if not bypass else "bypass").inc()
    version = await services.cache.version(user_id)
    value = await load()
    await services.cache.put(kind, user_id, value, version=version)
    return value


@router.get("/notifications", responses=answers(200, NotificationPage))
async def notifications(
    request: Request, user: User, after: Annotated[int | None, Query(ge=0, le=MAX_BIGINT)] = None, limit: Limit = 100
) -> ExactJSONResponse:
    """The inbox, oldest first after `after` (a `seq`); pass the last `seq` you saw to continue."""
    items = await services_of(request).inbox.after(user.user_id, after=after, limit=limit)
    return ExactJSONResponse({"items": [encode_notification(n) for n in items],
                              "next": items[-1].seq if items else after})
