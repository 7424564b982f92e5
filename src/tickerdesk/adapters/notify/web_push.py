"""Web Push: RFC 8030 delivery, RFC 8291 message encryption, RFC 8292 VAPID.

The payload is encrypted for the subscription's P-256 key and auth secret with
`aes128gcm` (pywebpush's WebPusher.encode, on http_ece), and POSTed to the
subscription's endpoint with a VAPID `Authorization: vapid t=<JWT>, k=<public key>`
(py_vapid; ES256, `aud` the endpoint's origin, `exp` 12 hours ahead, `sub` a contact
for the push service's operators), `TTL`, `Urgency` and, for an order, a `Topic`, so
a push service replaces an undelivered message about the same order.

Endpoints are chosen by the user's browser, so they are guarded like webhook URLs:
only public addresses are ever connected to (adapters/outbound_guard.py), except hosts
on TICKERDESK_PUSH_ALLOWED_HOSTS (tests). 201/200/202 is delivered; 404 or 410 means
the subscription is gone (it is deleted); 400, 401, 403 and 413 will never succeed;
429, 5xx and connection errors are retried.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Collection
from urllib.parse import urlsplit

import aiohttp
from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid02  # type: ignore[import-untyped]
from pywebpush import WebPusher, WebPushException  # type: ignore[import-untyped]

from tickerdesk.adapters.outbound_guard import GuardedSessions, refused_destination
from tickerdesk.app.ports import DeliveryFailed, PushTarget

VAPID_LIFETIME_SECONDS = 12 * 3600
GONE = frozenset({404, 410})
NEVER = frozenset({400, 401, 403, 413})


def vapid_from_pem(pem: str) -> Vapid02:
    return Vapid02.from_pem(pem.encode())


def public_key_of(vapid: Vapid02) -> str:
    """The application server key a browser subscribes with: base64url of the uncompressed point."""
    raw = vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class WebPush:
    def __init__(self, vapid_private_pem: str, subject: str, *, timeout_seconds: float = 10.0,
                 allowed_hosts: Collection[str] = (),
                 session_factory: Callable[[], aiohttp.ClientSession] | None = None):
        self.vapid = vapid_from_pem(vapid_private_pem)
        self._public_key = public_key_of(self.vapid)
        self.subject = subject
        self.timeout_seconds = timeout_seconds
        self._sessions = GuardedSessions(allowed_hosts, session_factory)

    @property
    def public_key(self) -> str:
        return self._public_key

    async def close(self) -> None:
        await self._sessions.close()

    def request(self, target: PushTarget, payload: bytes, *, ttl_seconds: int, urgency: str,
                topic: str | None) -> tuple[bytes, dict[str, str]]:
        """The encrypted body and the headers of the push message."""
        try:
            pusher = WebPusher({"endpoint": target.endpoint, "keys": {"p256dh": target.p256dh, "auth": target.auth}})
            body = pusher.encode(payload, "aes128gcm")["body"]
        except (WebPushException, ValueError, TypeError) as error:  # keys a browser would never make
            raise DeliveryFailed(f"the subscription's keys are not usable: {error}", permanent=True) from None
        parts = urlsplit(target.endpoint)
        claims = {"aud": f"{parts.scheme}://{parts.netloc}", "exp": int(time.time()) + VAPID_LIFETIME_SECONDS,
                  "sub": self.subject}
        headers: dict[str, str] = dict(self.vapid.sign(claims))
        headers |= {"Content-Encoding": "aes128gcm", "Content-Type": "application/octet-stream",
                    "TTL": str(ttl_seconds), "Urgency": urgency}
        if topic:
            headers["Topic"] = topic
        return body, headers

    async def send(self, target: PushTarget, payload: bytes, *, ttl_seconds: int, urgency: str,
                   topic: str | None) -> None:
        body, headers = self.request(target, payload, ttl_seconds=ttl_seconds, urgency=urgency, topic=topic)
        try:
            async with self._sessions.for_url(target.endpoint).post(
                target.endpoint, data=body, headers=headers, allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self.timeout_seconds),
            ) as response:
                if 200 <= response.status < 300:
                    return
                detail = (await response.text())[:200]
        except TimeoutError:
            raise DeliveryFailed(f"the push service timed out after {self.timeout_seconds:g}s") from None
        except Exception as error:  # connection refused, DNS, TLS, an invalid URL...
            if (refused := refused_destination(error)) is not None:
                raise DeliveryFailed(f"not sent: {refused}; push goes to public addresses only",
                                     permanent=True) from None
            raise DeliveryFailed(f"{type(error).__name__}: {error}" if str(error) else type(error).__name__) from None
        reason = f"the push service answered HTTP {response.status}" + (f": {detail}" if detail else "")
        raise DeliveryFailed(reason, gone=response.status in GONE, permanent=response.status in NEVER)
