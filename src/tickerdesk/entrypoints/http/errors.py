"""Every error as RFC 9457 problem+json with a machine-readable `code`, mapped in one place."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tickerdesk.domain.errors import DomainError
from tickerdesk.entrypoints.http.jsonio import ExactJSONResponse, RequestInvalid

log = structlog.get_logger(__name__)


class Unauthenticated(DomainError):
    code = "unauthenticated"
    status = 401


class Forbidden(DomainError):
    code = "forbidden"
    status = 403


def problem(status: int, code: str, detail: str, **extra: Any) -> ExactJSONResponse:
    body = {
        "type": f"https://tickerdesk.dev/problems/{code.replace('_', '-')}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return ExactJSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


async def _domain_error(request: Request, error: DomainError) -> ExactJSONResponse:
    extra = {"errors": error.errors} if isinstance(error, RequestInvalid) else {}
    return problem(error.status, error.code, error.detail, **extra)


async def _validation_error(request: Request, error: RequestValidationError) -> ExactJSONResponse:
    errors = [
        {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in error.errors()
    ]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem(400, "invalid_request", detail, errors=errors)


async def _http_error(request: Request, error: StarletteHTTPException) -> ExactJSONResponse:
    code = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated"}.get(
        error.status_code, "invalid_request"
    )
    return problem(error.status_code, code, str(error.detail))


async def _unexpected(request: Request, error: Exception) -> ExactJSONResponse:
    log.exception("unhandled error", path=request.url.path)
    return problem(500, "internal_error", "an unexpected error occurred; nothing was changed")


def install(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
