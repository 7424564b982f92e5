"""Rate limits: a token bucket per user and route group (place, cancel, read, admin),
checked after authentication, and per client address for the public routes (public),
which have no user. The decision's `RateLimit-*` headers ride on every response of a
limited route (see middleware); a refusal is 429 `rate_limited` with `Retry-After`.
Failed authentications are limited per address in `auth`."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

from fastapi import Depends, Request

from tickerdesk.app.rate_limits import Decision
from tickerdesk.app.services import Services
from tickerdesk.entrypoints.http.auth import Principal, client_key, current_admin, current_user
from tickerdesk.entrypoints.http.refusals import RateLimited


def rate_limited(group: str, *, admin: bool = False) -> Callable[..., Awaitable[Principal]]:
    authenticate = current_admin if admin else current_user

    async def dependency(request: Request, principal: Principal = Depends(authenticate)) -> Principal:
        decision = await user_hit(request.app.state.services, group, principal.user_id)
        request.state.response_headers = headers(decision)
        if not decision.allowed:
            retry_after = request.state.response_headers["Retry-After"]
            raise RateLimited(f"too many {group} requests; retry after {retry_after} s")
        return principal

    return dependency


async def user_hit(services: Services, group: str, user_id: str) -> Decision:
    """A request of `group` from `user_id`, against that user's bucket (also for `cached_reads`)."""
    decision: Decision = await services.limiter.hit(f"{group}:{user_id}", services.limits[group])
    return decision


def client_rate_limited(group: str) -> Callable[..., Awaitable[None]]:
    """For routes without a user: a bucket per client address, so one client cannot
    take the quote board from everyone else."""

    async def dependency(request: Request) -> None:
        services = request.app.state.services
        decision = await services.limiter.hit(f"{group}:{client_key(request)}", services.limits[group])
        request.state.response_headers = headers(decision)
        if not decision.allowed:
            retry_after = request.state.response_headers["Retry-After"]
            raise RateLimited(f"too many {group} requests from this address; retry after {retry_after} s")

    return dependency


def _whole_seconds(seconds: float) -> int:
    # Rounded to the microsecond first, so float noise (2.0000000001) does not add a second.
    return math.ceil(round(seconds, 6))


def headers(decision: Decision) -> dict[str, str]:
    """IETF draft RateLimit fields, plus Retry-After (at least 1 s) on a refusal."""
    fields = {
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(_whole_seconds(decision.reset_seconds)),
    }
    if not decision.allowed:
        fields["Retry-After"] = str(max(1, _whole_seconds(decision.retry_after)))
    return fields
