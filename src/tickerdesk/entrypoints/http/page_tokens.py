"""The page tokens of `/transaction-history`: opaque to clients, the same whichever history
store serves the page (PostgreSQL or DynamoDB), so a deployment can change stores without
breaking a client's paging.

A token is base64url of `{"v": 1, "after": "<trade id>"}` and a 6-byte BLAKE2b check of
those bytes. The check makes an edited, truncated or made-up token a clear 400 instead of
a position somewhere; it is not a secret boundary (a token only ever positions a page within
the caller's own history, which the store keys by the authenticated user).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from typing import Annotated

from fastapi import Query
from pydantic import AfterValidator

VERSION = 1
CHECK_BYTES = 6
MAX_LENGTH = 200  # a token is about 80 characters
INVALID = "is not a page token this API gave: pass the previous page's nextCursor as it came"


def _check(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, digest_size=CHECK_BYTES, person=b"td-history-page").digest()


def encode(trade_id: str) -> str:
    payload = json.dumps({"v": VERSION, "after": trade_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload + _check(payload)).rstrip(b"=").decode()


def decode(token: str) -> str:
    """The trade id a page ended on; ValueError (a 400 naming `cursor`) for anything else."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise ValueError(INVALID) from None
    payload, check = raw[:-CHECK_BYTES], raw[-CHECK_BYTES:]
    canonical = base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == token  # no ignored or extra characters
    if not canonical or len(raw) <= CHECK_BYTES or check != _check(payload):
        raise ValueError(INVALID)
    try:
        data = json.loads(payload)
        if data.get("v") != VERSION:
            raise ValueError(INVALID)
        return str(uuid.UUID(data["after"]))
    except (ValueError, TypeError, KeyError, AttributeError):
        raise ValueError(INVALID) from None


# The `cursor` parameter: a token in, the trade id it names out.
HistoryCursor = Annotated[str | None, Query(max_length=MAX_LENGTH, description="The nextCursor of the previous page."),
                          AfterValidator(lambda token: None if token is None else decode(token))]
