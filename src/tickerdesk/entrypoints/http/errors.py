"""Every error as RFC 9457 problem+json with a machine-readable `code`, mapped in one place.

`STATUS` is the only place that knows which HTTP status a refusal gets: domain errors
and edge refusals carry a code and a detail, never a status.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from tickerdesk.domain.errors import (
    ChannelUnavailable,
    CodeRecentlySent,
    ContactRefused,
    DomainError,
    IdempotencyConflict,
    InsufficientFunds,
    InsufficientShares,
    InvalidCode,
    InvalidRequest,
    InvalidTransition,
    NotCancelable,
    NotFound,
    PriceOutOfBand,
    UnknownSymbol,
    UnsupportedEvent,
)
from tickerdesk.entrypoints.http.jsonio import ExactJSONResponse
from tickerdesk.entrypoints.http.refusals import (
    BodyTooLarge,
    Forbidden,
    MalformedBody,
    RateLimited,
    Refusal,
    RequestInvalid,
    Unauthenticated,
    UnsafePushEndpoint,
    UnsafeWebhookUrl,
    detail_of,
    plain_message,
)

log = structlog.get_logger(__name__)

STATUS: dict[type[Exception], int] = {
    InvalidRequest: 422,
    UnknownSymbol: 422,
    InsufficientFunds: 422,
    InsufficientShares: 422,
    PriceOutOfBand: 422,
    NotFound: 404,
    NotCancelable: 409,
    IdempotencyConflict: 409,
    InvalidTransition: 409,
    UnsupportedEvent: 422,
    MalformedBody: 400,
    RequestInvalid: 422,
    BodyTooLarge: 413,
    Unauthenticated: 401,
    Forbidden: 403,
    RateLimited: 429,
    UnsafeWebhookUrl: 422,
    InvalidCode: 422,
    CodeRecentlySent: 409,
    ContactRefused: 422,
    ChannelUnavailable: 503,
    UnsafePushEndpoint: 422,
}


def status_of(error: Exception) -> int:
    """The status of the nearest class in `STATUS` (a new subclass inherits its parent's)."""
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 422


def problem_body(status: int, code: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": f"https://tickerdesk.dev/problems/{code.replace('_', '-')}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }


def problem(status: int, code: str, detail: str, **extra: Any) -> ExactJSONResponse:
    body = problem_body(status, code, detail, **extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return ExactJSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


async def _refused(request: Request, error: Exception) -> ExactJSONResponse:
    assert isinstance(error, DomainError | Refusal)
    extra = {"errors": error.errors} if isinstance(error, RequestInvalid) else {}
    return problem(status_of(error), error.code, error.detail, **extra)


async def _validation_error(request: Request, error: Exception) -> ExactJSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = [
        {"field": ".".join(str(p) for p in e["loc"]), "message": plain_message(e)} for e in error.errors()
    ]
    return problem(400, "invalid_request", detail_of(errors), errors=errors)


async def _http_error(request: Request, error: Exception) -> ExactJSONResponse:
    assert isinstance(error, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated"}.get(
        error.status_code, "invalid_request"
    )
    response = problem(error.status_code, code, str(error.detail))
    response.headers.update(error.headers or {})  # e.g. the router's Allow on a 405
    if error.status_code == 405:
        response.headers["Allow"] = allowed_methods(request)
    return response


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> str:
    """Every method some route serves at this path (RFC 9110: a 405 lists them all).
    The router names only the first route whose path matched, so /webhooks would say
    POST and not GET; asking every route for every method is cheap for a 405."""
    routes = request.app.router.routes
    allowed = [m for m in METHODS
               if any(route.matches({**request.scope, "method": m})[0] is Match.FULL for route in routes)]
    return ", ".join(allowed)


# A store that did not answer (a failover, a restart, no free connection): the request may or
# may not have taken effect, so it is a 503 to retry, never a 500 that says nothing changed.
UNREACHABLE = (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError,
               asyncpg.TooManyConnectionsError, asyncpg.AdminShutdownError, ConnectionError, TimeoutError)


async def _unexpected(request: Request, error: Exception) -> ExactJSONResponse:
    if isinstance(error, UNREACHABLE):
        log.warning("a store did not answer", path=request.url.path, error=repr(error))
        response = problem(503, "unavailable", "tickerdesk could not reach its database; whether this request "
                           "took effect is unknown: retry it with the same Idempotency-Key (or clientOrderId), "
                           "which answers the original if it did")
        response.headers["Retry-After"] = "1"
        return response
    log.exception("unhandled error", path=request.url.path)
    return problem(500, "internal_error", "an unexpected error occurred; nothing was changed")


def install(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _refused)
    app.add_exception_handler(Refusal, _refused)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
