"""Per-user rate limits: a token bucket per user and route group (place, cancel, read,
admin), checked after authentication. The decision's `RateLimit-*` headers ride on
every response of a limited route (see middleware); a refusal is 429 `rate_limited`
with `Retry-After`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends, Request

from tickerdesk.adapters.redis.rate_limit import headers
from tickerdesk.domain.errors import DomainError
from tickerdesk.entrypoints.http.auth import Principal, current_admin, current_user


class RateLimited(DomainError):
    code = "rate_limited"
    status = 429


def rate_limited(group: str, *, admin: bool = False) -> Callable[..., Awaitable[Principal]]:
    authenticate = current_admin if admin else current_user

    async def dependency(request: Request, principal: Principal = Depends(authenticate)) -> Principal:
        runtime = request.app.state.runtime
        decision = await runtime.limiter.hit(f"{group}:{principal.user_id}", runtime.limits[group])
        request.state.response_headers = headers(decision)
        if not decision.allowed:
            raise RateLimited(f"too many {group} requests; retry after {request.state.response_headers['Retry-After']} s")
        return principal

    return dependency
