"""Contacts: your email address and phone number, each proven by a code sent over its
own channel before anything else is sent to it (see app/contact_verification.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from tickerdesk.app.contact_verification import send_code, verify_code
from tickerdesk.domain.errors import ChannelUnavailable, CodeRecentlySent, ContactRefused, InvalidCode, InvalidRequest
from tickerdesk.domain.notifications import ContactKind, checked_address
from tickerdesk.entrypoints.http.auth import Principal
from tickerdesk.entrypoints.http.jsonio import ExactJSONResponse, parse_model
from tickerdesk.entrypoints.http.limits import rate_limited
from tickerdesk.entrypoints.http.responses import ContactChange, answers
from tickerdesk.entrypoints.http.routes.common import json_body, notifications_of, services_of, settings_of
from tickerdesk.entrypoints.http.schemas import Strict

router = APIRouter(tags=["notifications"])
User = Annotated[Principal, Depends(rate_limited("read"))]


class EmailIn(Strict):
    address: str = Field(min_length=3, max_length=254, examples=["ada@example.com"])


class PhoneIn(Strict):
    number: str = Field(min_length=8, max_length=32, examples=["+14155550123"])


class CodeIn(Strict):
    code: str = Field(pattern=r"^[0-9]{6}$", description="the six digits sent to the contact")


def _view(kind: ContactKind, address: str, verified: bool, expires_at: datetime | None) -> dict[str, Any]:
    return {"kind": str(kind), "address": address, "verified": verified, "codeExpiresAt": expires_at}


async def _set(request: Request, user: Principal, kind: ContactKind, address: str) -> ExactJSONResponse:
    notify = notifications_of(request)
    current = (await notify.settings.contacts(user.user_id)).get(kind)
    if current is not None and current[1] and current[0] == checked_address(kind, address):
        return ExactJSONResponse(_view(kind, current[0], True, None))  # already proven: nothing to send
    stored, expires_at = await send_code(user.user_id, kind, address, settings=notify.settings, email=notify.email,
                                         sms=notify.sms, secret=notify.secret, clock=services_of(request).clock)
    return ExactJSONResponse(_view(kind, stored, False, expires_at), status_code=202)


async def _verify(request: Request, user: Principal, kind: ContactKind) -> ExactJSONResponse:
    body = await parse_model(request, CodeIn, settings_of(request).max_body_bytes)
    notify = notifications_of(request)
    address = await verify_code(user.user_id, kind, body.code, settings=notify.settings, secret=notify.secret,
                                clock=services_of(request).clock)
    return ExactJSONResponse(_view(kind, address, True, None))


SET_REFUSALS = (InvalidRequest, CodeRecentlySent, ContactRefused, ChannelUnavailable)
ALREADY = {200: (ContactChange, "The address is verified already: nothing was sent", None)}


@router.post("/notifications/contacts/email", status_code=202, openapi_extra=json_body(EmailIn),
             responses=answers(202, ContactChange, *SET_REFUSALS, also=ALREADY))
async def set_email(request: Request, user: User) -> ExactJSONResponse:
    """Set your email address: a six-digit code is emailed to it (valid ten minutes), and
    nothing else is sent to it until you confirm the code. Replaces the previous address."""
    body = await parse_model(request, EmailIn, settings_of(request).max_body_bytes)
    return await _set(request, user, ContactKind.EMAIL, body.address)


@router.post("/notifications/contacts/email/verify", openapi_extra=json_body(CodeIn),
             responses=answers(200, ContactChange, InvalidCode))
async def verify_email(request: Request, user: User) -> ExactJSONResponse:
    """Confirm the code emailed to your address (five attempts per code)."""
    return await _verify(request, user, ContactKind.EMAIL)


@router.post("/notifications/contacts/phone", status_code=202, openapi_extra=json_body(PhoneIn),
             responses=answers(202, ContactChange, *SET_REFUSALS, also=ALREADY))
async def set_phone(request: Request, user: User) -> ExactJSONResponse:
    """Set your phone number (international form, +14155550123): a code is sent to it by
    SMS, and nothing else is sent to it until you confirm the code."""
    body = await parse_model(request, PhoneIn, settings_of(request).max_body_bytes)
    return await _set(request, user, ContactKind.PHONE, body.number)


@router.post("/notifications/contacts/phone/verify", openapi_extra=json_body(CodeIn),
             responses=answers(200, ContactChange, InvalidCode))
async def verify_phone(request: Request, user: User) -> ExactJSONResponse:
    """Confirm the code sent to your phone by SMS (five attempts per code)."""
    return await _verify(request, user, ContactKind.PHONE)
