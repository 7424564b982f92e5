"""Refusals: one class per problem `code` of the API (RFC 9457 problem+json)."""

from __future__ import annotations

from typing import Any


class TickerdeskError(Exception):
    """A request the API refused (or could not answer): `status`, `code` and `detail`
    from its problem+json body; `problem` is that body."""

    def __init__(self, status: int, code: str, detail: str, problem: dict[str, Any] | None = None):
        super().__init__(f"{detail} ({status} {code})")
        self.status, self.code, self.detail = status, code, detail
        self.problem = problem or {}


class InvalidRequest(TickerdeskError):
    """400/422: the request is malformed or breaks a rule (`invalid_request`, `unknown_symbol`,
    `price_out_of_band`)."""


class InsufficientFunds(TickerdeskError):
    pass


class InsufficientShares(TickerdeskError):
    pass


class NotFound(TickerdeskError):
    pass


class NotCancelable(TickerdeskError):
    pass


class IdempotencyConflict(TickerdeskError):
    pass


class Unauthenticated(TickerdeskError):
    pass


class Forbidden(TickerdeskError):
    pass


class RateLimited(TickerdeskError):
    """429: wait `retry_after` seconds."""

    def __init__(self, status: int, code: str, detail: str, problem: dict[str, Any] | None = None,
                 retry_after: float = 1.0):
        super().__init__(status, code, detail, problem)
        self.retry_after = retry_after


class ServerError(TickerdeskError):
    """5xx: the server failed; a retry may succeed."""


BY_CODE: dict[str, type[TickerdeskError]] = {
    "invalid_request": InvalidRequest,
    "unknown_symbol": InvalidRequest,
    "price_out_of_band": InvalidRequest,
    "insufficient_funds": InsufficientFunds,
    "insufficient_shares": InsufficientShares,
    "not_found": NotFound,
    "not_cancelable": NotCancelable,
    "idempotency_conflict": IdempotencyConflict,
    "unauthenticated": Unauthenticated,
    "forbidden": Forbidden,
    "rate_limited": RateLimited,
}


def error_from(status: int, problem: dict[str, Any], retry_after: str | None = None) -> TickerdeskError:
    code = str(problem.get("code") or ("server_error" if status >= 500 else "error"))
    detail = str(problem.get("detail") or problem.get("title") or f"HTTP {status}")
    if status == 429 or code == "rate_limited":
        try:
            seconds = float(retry_after) if retry_after is not None else 1.0
        except ValueError:
            seconds = 1.0
        return RateLimited(status, code, detail, problem, retry_after=seconds)
    cls = BY_CODE.get(code) or (ServerError if status >= 500 else TickerdeskError)
    return cls(status, code, detail, problem)
