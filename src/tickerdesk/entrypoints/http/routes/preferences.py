"""Notification preferences: which event types reach you by email, push or SMS, your
contacts' state, and quiet hours. See tickerdesk.domain.notifications for the defaults."""

from __future__ import annotations

from datetime import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from tickerdesk.app.notification_preferences import KEEP, change_preferences, preferences_view
from tickerdesk.domain.errors import InvalidRequest
from tickerdesk.domain.events import EventType
from tickerdesk.domain.notifications import Channel, QuietHours
from tickerdesk.entrypoints.http.auth import Principal
from tickerdesk.entrypoints.http.jsonio import ExactJSONResponse, parse_model
from tickerdesk.entrypoints.http.limits import rate_limited
from tickerdesk.entrypoints.http.responses import (
    ChannelName,
    ClockTime,
    NotifiableType,
    NotificationPreferences,
    answers,
)
from tickerdesk.entrypoints.http.routes.common import json_body, notifications_of, settings_of
from tickerdesk.entrypoints.http.schemas import Strict

router = APIRouter(tags=["notifications"])
User = Annotated[Principal, Depends(rate_limited("read"))]


class QuietHoursIn(Strict):
    start: ClockTime
    end: ClockTime
    time_zone: str = Field(alias="timeZone", min_length=1, max_length=64)


class PreferencesIn(Strict):
    channels: dict[NotifiableType, list[ChannelName]] | None = Field(  # type: ignore[valid-type]
        None, description="the event types to change, each with all the channels it should reach you by (an empty "
                          "list: none); types not named keep theirs")
    quiet_hours: QuietHoursIn | None = Field(None, alias="quietHours",
                                             description="null turns quiet hours off; absent leaves them as they are")


@router.get("/notifications/preferences", responses=answers(200, NotificationPreferences))
async def get_preferences(request: Request, user: User) -> ExactJSONResponse:
    """Which event types reach you by which channel, your contacts (and whether each is
    verified), how many browsers receive push, and your quiet hours."""
    return ExactJSONResponse(await preferences_view(user.user_id, settings=notifications_of(request).settings))


@router.put("/notifications/preferences", openapi_extra=json_body(PreferencesIn),
            responses=answers(200, NotificationPreferences, InvalidRequest))
async def put_preferences(request: Request, user: User) -> ExactJSONResponse:
    """Change the channels of the event types named, and the quiet hours if given. A
    channel without a verified contact (or, for push, a subscription) sends nothing
    until it has one."""
    body = await parse_model(request, PreferencesIn, settings_of(request).max_body_bytes)
    channels = {EventType(t): [Channel(c) for c in dict.fromkeys(cs)] for t, cs in (body.channels or {}).items()}
    quiet: QuietHours | object | None = KEEP
    if "quiet_hours" in body.model_fields_set:
        given = body.quiet_hours
        quiet = None if given is None else QuietHours(time.fromisoformat(given.start), time.fromisoformat(given.end),
                                                      given.time_zone)
    view = await change_preferences(user.user_id, channels, quiet, settings=notifications_of(request).settings)
    return ExactJSONResponse(view)
