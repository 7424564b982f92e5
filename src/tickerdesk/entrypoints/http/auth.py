"""Bearer JWT verification. Authentication itself is external: we check the
signature (HS256 secret or RS256 public key), take the user from `sub`, and the
`admin` scope from `scope` (space-separated) or `scopes`/`scp` (a list).

Failed authentications are counted per client address (the `auth_failures` token
bucket): once it is empty the address is refused with 429 before any token it sends
is looked at, so guessing tokens or burning our CPU on signatures stops there. A
token this process has already verified is still accepted from that address: the
limit stops guessing, not the other users behind a shared address."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Network, ip_address
from pathlib import Path

import jwt
from fastapi import Request
from starlette.requests import HTTPConnection

from tickerdesk.app.rate_limits import Decision
from tickerdesk.config import Settings
from tickerdesk.entrypoints.http.inputs import unstorable
from tickerdesk.entrypoints.http.refusals import Forbidden, RateLimited, Unauthenticated

MAX_USER_ID = 128
MAX_CACHED_TOKENS = 100_000  # at most five minutes each
LEEWAY_SECONDS = 30  # clock skew between the issuer and us, for exp, nbf and iat


@dataclass(frozen=True)
class Principal:
    user_id: str
    admin: bool = False


class TokenVerifier:
    def __init__(self, settings: Settings):
        self._audience = settings.jwt_audience
        self._issuer = settings.jwt_issuer
        if settings.jwt_public_key:
            key = settings.jwt_public_key
            if not key.lstrip().startswith("-----BEGIN") and Path(key).is_file():
                key = Path(key).read_text()
            self._key, self._algorithms = key, ["RS256"]
        elif settings.jwt_secret:
            self._key, self._algorithms = settings.jwt_secret, ["HS256"]
        else:
            raise ValueError("configure TICKERDESK_JWT_SECRET or TICKERDESK_JWT_PUBLIC_KEY")
        self._verified: dict[str, tuple[Principal, float]] = {}

    def known(self, token: str) -> Principal | None:
        """The principal of a token this process verified and that has not expired since."""
        hit = self._verified.get(token)
        return hit[0] if hit is not None and hit[1] > time.time() else None

    def verify(self, token: str) -> Principal:
        """Verify a token; a token seen before is answered from memory until it expires
        (a signature check costs more than the rest of a balance read)."""
        if (principal := self.known(token)) is not None:
            return principal
        principal, expires = self._verify(token)
        if len(self._verified) >= MAX_CACHED_TOKENS:
            self._verified.clear()
        self._verified[token] = (principal, expires)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=self._algorithms,
                audience=self._audience,
                issuer=self._issuer,
                # A token without `exp` would be valid forever: a leaked one could never be
                # outlived. `nbf` and an `iat` in the future (beyond the leeway) are refused too.
                options={"require": ["exp", "sub"], "verify_aud": self._audience is not None},
                leeway=LEEWAY_SECONDS,
            )
        except jwt.PyJWTError as error:
            raise Unauthenticated(f"invalid token: {error}") from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or user_id_problem(subject):
            raise Unauthenticated("the token's sub must be a user id")
        scope = claims.get("scope")
        scopes = set(scope.split()) if isinstance(scope, str) else set()
        for key in ("scopes", "scp"):
            if isinstance(claims.get(key), list):
                scopes |= {str(s) for s in claims[key]}
        expires = float(claims["exp"])  # required, and PyJWT checked that it is a number
        return Principal(subject, admin="admin" in scopes), min(expires, time.time() + 300)


def user_id_problem(user_id: str) -> str | None:
    """Why `user_id` cannot be a user id (a token's `sub`), or None. The user id keys
    every row of the user's: it must be text PostgreSQL can hold. The one rule for tokens
    verified, tokens `tickerdesk token` issues and the web app's dev sign-in."""
    if not user_id:
        return "a user id must not be empty"
    if len(user_id) > MAX_USER_ID:
        return f"a user id must be at most {MAX_USER_ID} characters"
    if why := unstorable(user_id):
        return f"a user id {why}"
    return None


def bearer_token(header: str | None) -> str:
    if not header:
        raise Unauthenticated("send Authorization: Bearer <token>")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send Authorization: Bearer <token>")
    return token.strip()


def client_key(connection: HTTPConnection) -> str:
    """The client's address as a rate-limit key (uvicorn has applied X-Forwarded-For from
    the trusted proxy). IPv6 clients by their /64: one subscriber usually has all of it."""
    host = connection.client.host if connection.client else ""
    try:
        address = ip_address(host)
    except ValueError:
        return host or "unknown"
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(IPv6Network((address, 64), strict=False))
    return str(address)


def _too_many_failures(connection: HTTPConnection, decision: Decision) -> RateLimited:
    retry_after = max(1, math.ceil(round(decision.retry_after, 6)))
    connection.state.response_headers = {"Retry-After": str(retry_after)}
    return RateLimited(f"too many failed authentications from this address; retry after {retry_after} s")


async def authenticate(connection: HTTPConnection, token: Callable[[], str]) -> Principal:
    """The principal of the bearer token `token()` reads, for a client that has not failed
    authentication too often; each failure (401) is counted against its address."""
    verifier: TokenVerifier = connection.app.state.verifier
    read: str | None = None
    unreadable: Unauthenticated | None = None
    try:
        read = token()
    except Unauthenticated as error:  # no token, or not a bearer one: a failure like a bad token
        unreadable = error
    if read is not None and (principal := verifier.known(read)) is not None:
        return principal
    services = connection.app.state.services
    key, limit = f"auth_failures:{client_key(connection)}", services.limits["auth_failures"]
    decision = await services.limiter.peek(key, limit)
    if not decision.allowed:
        raise _too_many_failures(connection, decision)
    try:
        if unreadable is not None:
            raise unreadable
        assert read is not None
        return verifier.verify(read)
    except Unauthenticated:
        decision = await services.limiter.hit(key, limit)
        if not decision.allowed:  # a burst of failures raced past the peek: this one is over
            raise _too_many_failures(connection, decision) from None
        raise


async def current_user(request: Request) -> Principal:
    principal = await authenticate(request, lambda: bearer_token(request.headers.get("authorization")))
    request.state.user_id = principal.user_id  # for the access log line (middleware.RequestContext)
    return principal


async def current_admin(request: Request) -> Principal:
    principal = await current_user(request)
    if not principal.admin:
        raise Forbidden("this route needs the admin scope")
    return principal


def issue_token(secret: str, user_id: str, *, admin: bool = False, ttl_seconds: int = 30 * 24 * 3600) -> str:
    now = int(time.time())
    claims = {"sub": user_id, "iat": now, "exp": now + ttl_seconds}
    if admin:
        claims["scope"] = "admin"
    return jwt.encode(claims, secret, algorithm="HS256")
