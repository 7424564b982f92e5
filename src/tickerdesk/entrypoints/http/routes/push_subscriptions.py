"""Web Push subscriptions: the web application registers the browser's PushSubscription
(after PushManager.subscribe() with the key of GET /notifications/push-key), and push
notifications go to every browser registered. A subscription its push service says is
gone (404/410) is deleted by the sender."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field, field_validator

from tickerdesk.app.outbound_policy import allowed_host
from tickerdesk.domain.errors import InvalidRequest, NotFound
from tickerdesk.entrypoints.http.auth import Principal
from tickerdesk.entrypoints.http.destinations import inside_network, url_parts
from tickerdesk.entrypoints.http.jsonio import ExactJSONResponse, parse_model
from tickerdesk.entrypoints.http.limits import rate_limited
from tickerdesk.entrypoints.http.refusals import UnsafePushEndpoint
from tickerdesk.entrypoints.http.responses import PushKey, PushSubscription, PushSubscriptionList, answers
from tickerdesk.entrypoints.http.routes.common import checked_id, json_body, notifications_of, settings_of
from tickerdesk.entrypoints.http.schemas import Strict

router = APIRouter(tags=["notifications"])
User = Annotated[Principal, Depends(rate_limited("read"))]


def _decoded(value: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(value.replace("+", "-").replace("/", "_").rstrip("=") + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("must be base64url") from None


class KeysIn(Strict):
    p256dh: str = Field(min_length=80, max_length=100, description="the browser's P-256 public key, base64url")
    auth: str = Field(min_length=16, max_length=32, description="the 16-byte authentication secret, base64url")

    @field_validator("p256dh")
    @classmethod
    def _point(cls, value: str) -> str:
        raw = _decoded(value)
        try:
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
        except ValueError:
            raise ValueError("must be an uncompressed P-256 public key (65 bytes), base64url") from None
        return value

    @field_validator("auth")
    @classmethod
    def _secret(cls, value: str) -> str:
        if len(_decoded(value)) != 16:
            raise ValueError("must be 16 bytes, base64url")
        return value


class PushSubscriptionIn(Strict):
    """The browser's PushSubscription as `JSON.stringify(subscription)` gives it."""

    endpoint: str = Field(min_length=1, max_length=2048)
    expiration_time: float | None = Field(None, alias="expirationTime")
    keys: KeysIn

    @field_validator("endpoint")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = url_parts(value)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an https:// URL with a host")
        return value


async def _refuse_inside(endpoint: str, allowed_hosts: list[str]) -> None:
    """Like a webhook URL: a push service is on the internet, never inside the network.
    The sender checks again at every delivery (adapters/outbound_guard.py)."""
    parts = urlsplit(endpoint)
    if allowed_host(parts.hostname or "", allowed_hosts):
        return
    if parts.scheme.lower() != "https":
        raise UnsafePushEndpoint("endpoint: push services are reached over https only")
    if (inside := await inside_network(endpoint, allowed_hosts)) is not None:
        raise UnsafePushEndpoint(f"endpoint: {inside}; push goes to public addresses only")


@router.get("/notifications/push-key", responses=answers(200, PushKey))
async def push_key(request: Request, user: User) -> ExactJSONResponse:
    """The VAPID public key: subscribe with it, and every push we send is signed by its pair."""
    return ExactJSONResponse({"publicKey": notifications_of(request).push_public_key})


@router.post("/notifications/push-subscriptions", status_code=201, openapi_extra=json_body(PushSubscriptionIn),
             responses=answers(201, PushSubscription, InvalidRequest, UnsafePushEndpoint))
async def subscribe(request: Request, user: User) -> ExactJSONResponse:
    """Register this browser for push notifications (the same endpoint again updates its keys)."""
    settings = settings_of(request)
    body = await parse_model(request, PushSubscriptionIn, settings.max_body_bytes)
    await _refuse_inside(body.endpoint, settings.push_allowed_hosts)
    created = await notifications_of(request).settings.add_push_subscription(
        user.user_id, body.endpoint, body.keys.p256dh, body.keys.auth)
    return ExactJSONResponse(created, status_code=201)


@router.get("/notifications/push-subscriptions", responses=answers(200, PushSubscriptionList))
async def subscriptions(request: Request, user: User) -> ExactJSONResponse:
    """The browsers that receive your push notifications, oldest first."""
    return ExactJSONResponse({"items": await notifications_of(request).settings.push_subscriptions(user.user_id)})


@router.delete("/notifications/push-subscriptions/{subscriptionId:id}", status_code=204,
               responses=answers(204, None, NotFound))
async def unsubscribe_browser(request: Request, subscriptionId: str, user: User) -> Response:
    """Stop push notifications to this browser."""
    found = await notifications_of(request).settings.delete_push_subscription(
        user.user_id, checked_id(subscriptionId, "push subscription"))
    if not found:
        raise NotFound(f"no push subscription {subscriptionId}")
    return Response(status_code=204)
