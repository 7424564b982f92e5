"""Refusals made at the HTTP edge, before any use case runs: authentication,
authorization, rate limits and request bodies. Like domain errors they carry a
machine-readable `code` and no status; `errors.STATUS` maps both to HTTP."""

from __future__ import annotations

from collections.abc import Mapping
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


class UnsafeWebhookUrl(Refusal):
    """A webhook URL whose host is, or resolves to, an address inside the network."""

    code = "unsafe_webhook_url"


class UnsafePushEndpoint(Refusal):
    """A push subscription endpoint whose host is, or resolves to, an address inside the network."""

    code = "unsafe_push_endpoint"


class MalformedBody(Refusal):
    code = "invalid_request"


class BodyTooLarge(Refusal):
    code = "invalid_request"


# What pydantic puts before the message of a ValueError or assert in a validator: its
# wording, not ours, and nothing a client can act on.
PYDANTIC_PREFIXES = ("Value error, ", "Assertion failed, ")


def plain_message(error: Mapping[str, Any]) -> str:
    """A pydantic error's message as our validators wrote it."""
    message = str(error["msg"])
    for prefix in PYDANTIC_PREFIXES:
        message = message.removeprefix(prefix)
    return message


def detail_of(errors: list[dict[str, Any]]) -> str:
    """The errors in one sentence; an error of the whole body has no field to name."""
    return "; ".join(f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors)


class RequestInvalid(Refusal):
    """Schema errors, with each offending field named."""

    def __init__(self, error: ValidationError):
        self.errors: list[dict[str, Any]] = [
            {"field": ".".join(str(p) for p in e["loc"]) or None, "message": plain_message(e)}
            for e in error.errors(include_url=False, include_input=False)
        ]
        super().__init__(detail_of(self.errors))


class InvalidField(RequestInvalid):
    """One body field refused outside its schema (text PostgreSQL cannot hold), in the
    same shape as a schema error."""

    def __init__(self, field: str, message: str):
        self.errors = [{"field": field, "message": message}]
        Refusal.__init__(self, f"{field}: {message}")
