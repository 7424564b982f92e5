"""Refusals made at the HTTP edge, before any use case runs: authentication,
authorization, rate limits and request bodies. Like domain errors they carry a
machine-readable `code` and no status; `errors.STATUS` maps both to HTTP."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError


class Refusal(Exception):
    code = "invalid_request"

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class Unauthenticated(Refusal):
    code = "unauthenticated"


class Forbidden(Refusal):
    code = "forbidden"


class RateLimited(Refusal):
    code = "rate_limited"


class MalformedBody(Refusal):
    code = "invalid_request"


class BodyTooLarge(Refusal):
    code = "invalid_request"


class RequestInvalid(Refusal):
    """Schema errors, with each offending field named."""

    def __init__(self, error: ValidationError):
        self.errors: list[dict[str, Any]] = [
            {"field": ".".join(str(p) for p in e["loc"]) or None, "message": e["msg"]}
            for e in error.errors(include_url=False, include_input=False)
        ]
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in self.errors))
