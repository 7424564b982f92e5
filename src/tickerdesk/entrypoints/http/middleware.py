"""A pure ASGI middleware (cheaper than BaseHTTPMiddleware on the hot path): binds a
request id to the logs, echoes it in `X-Request-ID`, adds the headers a route left in
`request.state.response_headers` (rate limits, also on errors), times every request, and
writes the access log: one line per request once its response is sent, with the user the
auth dependency left in `request.state.user_id` (none when the request had no valid token)."""

from __future__ import annotations

import time
import uuid

import structlog

from tickerdesk.metrics import REQUESTS

access = structlog.get_logger("tickerdesk.access")


class RequestContext:
    def __init__(self, app, access_log: bool = True):
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request_id = next((v.decode() for k, v in scope["headers"] if k == b"x-request-id"), None)
        request_id = (request_id or uuid.uuid4().hex)[:64]
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started, status = time.perf_counter(), [500]

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                extra = scope.get("state", {}).get("response_headers") or {}
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                    *((k.lower().encode(), v.encode()) for k, v in extra.items()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route, elapsed = scope.get("route"), time.perf_counter() - started
            REQUESTS.labels(scope["method"], getattr(route, "path", "unmatched"), status[0]).observe(elapsed)
            if self.access_log:
                access.info("request", method=scope["method"], path=scope["path"], status=status[0],
                            duration_ms=round(elapsed * 1000, 1), user_id=scope.get("state", {}).get("user_id"),
                            request_id=request_id)
            structlog.contextvars.unbind_contextvars("request_id")
