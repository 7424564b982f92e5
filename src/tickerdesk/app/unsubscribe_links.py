"""Unsubscribe links: a signed token naming a user and an event type, so the link in
an email turns that type's email off without signing in (and nobody can forge one
for another user). HMAC-SHA256 with the notification secret (TICKERDESK_NOTIFICATION_SECRET,
else kept in the data directory); tokens do not expire, as a link in an old email
should still work."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from urllib.parse import quote

from tickerdesk.domain.events import EventType
from tickerdesk.domain.notifications import DEFAULT_CHANNELS

PURPOSE = b"tickerdesk unsubscribe v1\n"
MAX_TOKEN = 1024


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: str, body: bytes) -> bytes:
    return hmac.new(secret.encode(), PURPOSE + body, hashlib.sha256).digest()


def make_token(secret: str, user_id: str, event_type: EventType) -> str:
    body = f"{event_type}\n{user_id}".encode()
    return f"{_b64(body)}.{_b64(_signature(secret, body))}"


def read_token(secret: str, token: str) -> tuple[str, EventType] | None:
    """(user id, event type) of a token this secret signed; None for anything else."""
    if len(token) > MAX_TOKEN or token.count(".") != 1:
        return None
    body_text, signature_text = token.split(".")
    try:
        body, signature = _unb64(body_text), _unb64(signature_text)
    except (binascii.Error, ValueError):
        return None
    if not hmac.compare_digest(signature, _signature(secret, body)):
        return None
    try:
        kind, _, user_id = body.decode().partition("\n")
        event_type = EventType(kind)
    except (UnicodeDecodeError, ValueError):
        return None
    if event_type not in DEFAULT_CHANNELS or not user_id:
        return None
    return user_id, event_type


def unsubscribe_url(public_url: str, secret: str, user_id: str, event_type: EventType) -> str:
    return f"{public_url.rstrip('/')}/notifications/unsubscribe?token={quote(make_token(secret, user_id, event_type))}"
