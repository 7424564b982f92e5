"""Webhooks: register an endpoint, list, delete, and see each delivery's fate.

The secret that signs deliveries is shown once, in the answer to `POST /webhooks`;
deliveries follow the Standard Webhooks specification (see
tickerdesk.adapters.webhook_signatures for the scheme)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import Field, field_validator

from tickerdesk.domain.errors import InvalidRequest, NotFound
from tickerdesk.domain.events import USER_FACING
from tickerdesk.entrypoints.http.auth import Principal
from tickerdesk.entrypoints.http.destinations import inside_network, url_parts
from tickerdesk.entrypoints.http.inputs import MAX_BIGINT
from tickerdesk.entrypoints.http.jsonio import ExactJSONResponse, parse_model
from tickerdesk.entrypoints.http.limits import rate_limited
from tickerdesk.entrypoints.http.refusals import UnsafeWebhookUrl
from tickerdesk.entrypoints.http.responses import DeliveryPage, NewWebhook, WebhookList, answers
from tickerdesk.entrypoints.http.routes.common import checked_id, json_body, page, services_of, settings_of
from tickerdesk.entrypoints.http.schemas import Strict

router = APIRouter(tags=["webhooks"])
User = Annotated[Principal, Depends(rate_limited("read"))]
Limit = Annotated[int, Query(ge=1, le=500)]
MAX_URL = 2048
EVENT_TYPES = sorted(USER_FACING)


class WebhookIn(Strict):
    url: str = Field(min_length=1, max_length=MAX_URL)
    event_types: list[str] | None = Field(None, alias="eventTypes", min_length=1, max_length=len(EVENT_TYPES))

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = url_parts(value)
        if parts.scheme.lower() not in ("http", "https"):
            raise ValueError("must be an http:// or https:// URL")
        if not parts.hostname:
            raise ValueError("must name a host")
        return value

    @field_validator("event_types")
    @classmethod
    def _user_facing(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        unknown = [t for t in value if t not in USER_FACING]
        if unknown:
            raise ValueError(f"unknown event types {unknown}; choose from {EVENT_TYPES}")
        return list(dict.fromkeys(value))  # without repeats, in the order given


async def refuse_inside(url: str, allowed_hosts: Iterable[str]) -> None:
    """Refuse a URL whose host is, or now resolves to, an address inside the network."""
    if (inside := await inside_network(url, allowed_hosts)) is not None:
        raise UnsafeWebhookUrl(f"url: {inside}; webhooks are sent to public addresses only")


@router.post("/webhooks", status_code=201, openapi_extra=json_body(WebhookIn),
             responses=answers(201, NewWebhook, InvalidRequest, UnsafeWebhookUrl))
async def register(request: Request, user: User) -> ExactJSONResponse:
    """Register an http(s) endpoint for your events (all user-facing ones unless
    `eventTypes` names some). The answer holds the signing `secret` (`whsec_` and base64):
    it is shown only now. A URL whose host is, or resolves to, a loopback, private,
    link-local or metadata address is refused (422 `unsafe_webhook_url`).

    Each event is POSTed as its JSON envelope, signed as the
    [Standard Webhooks](https://www.standardwebhooks.com) specification says, so any
    `standardwebhooks` library verifies it with the secret:
    `webhook-id` (the event's id, the same on every retry: deduplicate by it),
    `webhook-timestamp` (Unix seconds of this attempt; refuse ones more than five
    minutes from your clock) and `webhook-signature`
    (`v1,` + base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{raw body}`, keyed
    with the bytes the base64 after `whsec_` encodes; accept if any of its
    space-separated signatures matches). `Tickerdesk-Event` carries the event type.
    A secret issued before Standard Webhooks is URL-safe base64: replace `-` with `+`
    and `_` with `/`, and pad with `=`, to give it to such a library.

    **Deprecated:** `Tickerdesk-Signature` (`v1=` + hex HMAC-SHA256 keyed with the whole
    secret string over `{Tickerdesk-Timestamp}.{raw body}`) and `Tickerdesk-Timestamp`
    are still sent in this release and will be removed in the next; verify
    `webhook-signature` instead."""
    services = services_of(request)
    settings = settings_of(request)
    body = await parse_model(request, WebhookIn, settings.max_body_bytes)
    await refuse_inside(body.url, settings.webhook_allowed_hosts)
    webhook = await services.webhooks.register(user.user_id, body.url, body.event_types)
    return ExactJSONResponse(webhook, status_code=201)


@router.get("/webhooks", responses=answers(200, WebhookList))
async def list_webhooks(request: Request, user: User) -> ExactJSONResponse:
    """Your active webhooks, oldest first (secrets are never shown again)."""
    return ExactJSONResponse({"items": await services_of(request).webhooks.list(user.user_id)})


@router.delete("/webhooks/{webhookId:id}", status_code=204, responses=answers(204, None, NotFound))
async def delete(request: Request, webhookId: str, user: User) -> Response:
    """Stop sending to this webhook; pending deliveries end `failed`, past ones stay visible."""
    if not await services_of(request).webhooks.delete(user.user_id, checked_id(webhookId, "webhook")):
        raise NotFound(f"no webhook {webhookId}")  # another user's webhook looks exactly like none
    return Response(status_code=204)


@router.get("/webhooks/{webhookId:id}/deliveries", responses=answers(200, DeliveryPage, NotFound))
async def deliveries(
    request: Request,
    webhookId: str,
    user: User,
    limit: Limit = 50,
    cursor: Annotated[int | None, Query(ge=1, le=MAX_BIGINT)] = None,
) -> ExactJSONResponse:
    """A webhook's deliveries, newest first; pass `nextCursor` as `cursor` for older ones."""
    items = await services_of(request).webhooks.deliveries(
        user.user_id, checked_id(webhookId, "webhook"), limit=limit, cursor=cursor
    )
    if items is None:
        raise NotFound(f"no webhook {webhookId}")
    return page(items, limit, lambda d: d["deliveryId"])
