"""Your email, push and SMS deliveries: each message's channel, attempts and fate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from tickerdesk.entrypoints.http.auth import Principal
from tickerdesk.entrypoints.http.inputs import MAX_BIGINT
from tickerdesk.entrypoints.http.jsonio import ExactJSONResponse
from tickerdesk.entrypoints.http.limits import rate_limited
from tickerdesk.entrypoints.http.responses import NotificationDeliveryPage, answers
from tickerdesk.entrypoints.http.routes.common import notifications_of, page

router = APIRouter(tags=["notifications"])
User = Annotated[Principal, Depends(rate_limited("read"))]


@router.get("/notifications/deliveries", responses=answers(200, NotificationDeliveryPage))
async def deliveries(
    request: Request,
    user: User,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[int | None, Query(ge=1, le=MAX_BIGINT)] = None,
) -> ExactJSONResponse:
    """Your deliveries by email, push and SMS, newest first; pass `nextCursor` as `cursor` for older ones."""
    items = await notifications_of(request).deliveries.page(user.user_id, limit=limit, cursor=cursor)
    return page(items, limit, lambda d: d["deliveryId"])
