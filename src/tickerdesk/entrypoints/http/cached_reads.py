"""`GET /balance` and `GET /portfolio` answered from the read cache, in front of FastAPI.

These are what a client polls. A cache hit is a lookup, yet through FastAPI's routing,
dependency injection and response classes it cost nearly what the database read it
saved (`tickerdesk bench`: the cached read at 1.3-1.7x the uncached one). So a request
that is certainly a hit is answered here: a token this process has verified before
(`TokenVerifier.known`), a fresh cached value, and the user's read bucket not empty.
Everything else (a query string, a token not seen yet, a miss, `Cache-Control:
no-cache`, a bucket that refuses) goes on to the route, the one place of the rules and
their messages, which answers it as ever.

It runs inside `RequestContext` and `SecurityHeaders` (request id, access log, timing,
rate-limit and security headers as for any route), and answers with the same body and
headers as the route: `routes/account.py` renders both.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from tickerdesk.codec import dumps_bytes
from tickerdesk.entrypoints.http.auth import TokenVerifier, bearer_token
from tickerdesk.entrypoints.http.limits import headers as limit_headers
from tickerdesk.entrypoints.http.limits import user_hit
from tickerdesk.entrypoints.http.refusals import Unauthenticated
from tickerdesk.entrypoints.http.routes.account import asks_no_cache, portfolio_body
from tickerdesk.metrics import CACHE_READS

PATHS = {"/balance": "balance", "/portfolio": "portfolio"}


class CachedReads:
    def __init__(self, app: Any, api: FastAPI):
        self.app, self.api = app, api
        self.routes: dict[str, APIRoute] = {}  # the routes, for RequestContext's metric label

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = PATHS.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "GET" else None
        if kind is None or scope.get("query_string") or not await self._answered(scope, send, kind):
            await self.app(scope, receive, send)

    async def _answered(self, scope: dict[str, Any], send: Any, kind: str) -> bool:
        token = cache_control = None
        for name, value in scope["headers"]:  # the first of each, as the route reads them
            if name == b"authorization" and token is None:
                token = value
            elif name == b"cache-control" and cache_control is None:
                cache_control = value
        if asks_no_cache(cache_control and cache_control.decode("latin-1")):
            return False
        try:
            credentials = bearer_token(token and token.decode("latin-1"))
        except Unauthenticated:
            return False
        verifier: TokenVerifier = self.api.state.verifier
        principal = verifier.known(credentials)
        services = getattr(self.api.state, "services", None)
        if principal is None or services is None:
            return False
        value = await services.cache.get(kind, principal.user_id)
        if value is None:
            scope.setdefault("state", {})["cache_missed"] = True  # the route need not ask again
            return False
        decision = await user_hit(services, "read", principal.user_id)
        if not decision.allowed:  # the route refuses it (a refused hit takes nothing from the bucket)
            return False
        CACHE_READS.labels(kind, "hit").inc()
        body = dumps_bytes(value if kind == "balance" else portfolio_body(services, principal.user_id, value))
        state = scope.setdefault("state", {})
        state["user_id"], state["response_headers"] = principal.user_id, limit_headers(decision)
        if route := self._route(scope["path"]):
            scope["route"] = route
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode()),
                                (b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})
        return True

    def _route(self, path: str) -> APIRoute | None:
        if not self.routes:
            self.routes = {r.path: r for r in self.api.routes if isinstance(r, APIRoute) and r.path in PATHS}
        return self.routes.get(path)
