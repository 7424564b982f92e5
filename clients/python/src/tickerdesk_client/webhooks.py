"""Verify a webhook delivery: tickerdesk signs them as the Standard Webhooks
specification says (https://www.standardwebhooks.com), so the `standardwebhooks`
library does this too; this is the same check with the standard library only, and it
also takes a secret issued before Standard Webhooks (URL-safe base64) as it is."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

SECRET_PREFIX = "whsec_"
TOLERANCE_SECONDS = 300


class WebhookVerificationError(ValueError):
    """The delivery is not authentic, or too old or too new to trust: answer it 4xx."""


def _key(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX).translate(str.maketrans("-_", "+/"))
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error:
        raise ValueError("a webhook secret is whsec_ followed by base64") from None
    if not key:
        raise ValueError("a webhook secret may not be empty")
    return key


def verify_webhook(
    secret: str,
    headers: Mapping[str, str],
    body: bytes | str,
    *,
    tolerance_seconds: float = TOLERANCE_SECONDS,
    now: float | None = None,
) -> dict[str, Any]:
    """The delivery's event envelope (numbers as `Decimal`) if `headers` (any case)
    sign `body`, the raw bytes received, with `secret`, within `tolerance_seconds` of
    `now` (default: this clock); else `WebhookVerificationError`. Deduplicate by the
    envelope's `id` (the `webhook-id` header): a retried delivery carries the same one."""
    lowered = {name.lower(): value for name, value in headers.items()}
    message_id, stamp, signatures = (lowered.get(f"webhook-{h}", "") for h in ("id", "timestamp", "signature"))
    if not (message_id and stamp and signatures):
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    if not stamp.isascii() or not stamp.isdigit():
        raise WebhookVerificationError("webhook-timestamp is not Unix seconds")
    if abs((time.time() if now is None else now) - int(stamp)) > tolerance_seconds:
        raise WebhookVerificationError("webhook-timestamp is too far from now: refused as a possible replay")
    raw = body.encode() if isinstance(body, str) else body
    expected = hmac.new(_key(secret), f"{message_id}.{stamp}.".encode() + raw, hashlib.sha256).digest()
    matched = False
    for signature in signatures.split():
        version, _, encoded = signature.partition(",")
        try:
            candidate = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            continue
        # Compare every candidate, so the time taken does not tell which one matched.
        matched |= version == "v1" and hmac.compare_digest(expected, candidate)
    if not matched:
        raise WebhookVerificationError("no webhook-signature matches this body and secret")
    envelope: dict[str, Any] = json.loads(raw, parse_float=Decimal)
    return envelope
