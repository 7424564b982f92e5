"""How webhook deliveries are signed: the Standard Webhooks scheme
(https://www.standardwebhooks.com), and, for one release, our own older one.

Standard Webhooks
-----------------
Every delivery carries

    webhook-id: 0194d1f2-8a4b-7c3d-9e5f-0a1b2c3d4e5f    the event's id: the same on every retry
    webhook-timestamp: 1735689600                       Unix seconds of this attempt
    webhook-signature: v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=

The signature is base64(HMAC-SHA256(key, f"{webhook-id}.{webhook-timestamp}." + raw
body)), `key` being the bytes that the part of the secret after `whsec_` encodes in
base64. The header may hold several space-separated signatures (while a secret
rotates): a receiver accepts the delivery if any `v1` one matches, compares in
constant time, and refuses timestamps more than five minutes from its clock. The
`standardwebhooks` libraries (and their ports to other languages) do all of that.

Secrets are `whsec_` + standard base64 (with padding) of 32 random bytes. Secrets
issued before this scheme are `whsec_` + URL-safe base64 without padding of 32 random
bytes: the same bytes are their key. `signing_key` reads both alphabets; a receiver
whose library reads only the standard one turns such a secret into it by replacing
`-` with `+` and `_` with `/` and padding with `=` (`standard_secret` does).

Deprecated: Tickerdesk-Signature
--------------------------------
Sent alongside for one more release, then removed:

    Tickerdesk-Timestamp: 1735689600                    the same as webhook-timestamp
    Tickerdesk-Signature: v1=<hex HMAC-SHA256(secret as UTF-8, f"{timestamp}." + raw body)>

keyed with the whole secret string (`whsec_` included) as UTF-8 bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the specification asks for 24 to 64
STANDARD_VERSION = "v1"
LEGACY_VERSION = "v1"
TOLERANCE_SECONDS = 300
# The URL-safe alphabet's two letters, as the standard alphabet writes them.
_TO_STANDARD = str.maketrans("-_", "+/")


def new_secret() -> str:
    """A fresh `whsec_` secret: standard base64 of SECRET_BYTES random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def standard_secret(secret: str) -> str:
    """The secret in the Standard Webhooks form (standard alphabet, padded): itself for
    a secret issued now, the same key in that form for one issued before."""
    encoded = secret.removeprefix(SECRET_PREFIX).translate(_TO_STANDARD)
    return SECRET_PREFIX + encoded + "=" * (-len(encoded) % 4)


def signing_key(secret: str) -> bytes:
    """The HMAC key a `whsec_` secret stands for (either alphabet, padded or not)."""
    encoded = standard_secret(secret).removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise ValueError("a webhook secret is whsec_ followed by base64") from None
    if not key:
        raise ValueError("a webhook secret may not be empty")
    return key


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value for `body` sent as `message_id` at `timestamp`."""
    if "." in message_id:  # the id is a separator-delimited part of what is signed
        raise ValueError("a webhook id may not contain '.'")
    content = f"{message_id}.{int(timestamp)}.".encode() + body
    digest = hmac.new(signing_key(secret), content, hashlib.sha256).digest()
    return f"{STANDARD_VERSION},{base64.b64encode(digest).decode('ascii')}"


def standard_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp)),
        "webhook-signature": sign(secret, message_id, timestamp, body),
    }


# -- deprecated: the Tickerdesk-Signature scheme, sent for one more release ----------


def legacy_sign(secret: str, timestamp: int, body: bytes) -> str:
    """The deprecated `Tickerdesk-Signature` value for this body sent at `timestamp`."""
    message = f"{int(timestamp)}.".encode() + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"{LEGACY_VERSION}={digest}"


def verify_legacy_signature(
    secret: str,
    timestamp: int | str,
    body: bytes,
    header: str,
    *,
    tolerance_seconds: int | None = TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """Whether `header` (a `Tickerdesk-Signature` value) signs `body` sent at `timestamp`
    (the `Tickerdesk-Timestamp` value) with `secret`, and, unless `tolerance_seconds` is
    None, whether that timestamp is recent."""
    try:
        moment = int(timestamp)
    except (TypeError, ValueError):
        return False
    if tolerance_seconds is not None:
        current = time.time() if now is None else now
        if abs(current - moment) > tolerance_seconds:
            return False
    expected = legacy_sign(secret, moment, body).encode()
    matched = False
    for candidate in header.replace(" ", ",").split(","):
        # Check every candidate, so the time taken does not depend on which one matched.
        matched |= hmac.compare_digest(expected, candidate.strip().encode())
    return matched
