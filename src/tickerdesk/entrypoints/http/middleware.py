"""A pure ASGI middleware (cheaper than BaseHTTPMiddleware on the hot path): binds a
request id to the logs, echoes it in `X-Request-ID`, adds the headers a route left in
`request.state.response_headers` (rate limits, also on errors), times every request, and
writes the access log: one line per request once its response is sent, with the user the
auth dependency left in `request.state.user_id` (none when the request had no valid token)."""

from __future__ import annotations

import re
import time
import uuid

import structlog

from tickerdesk.metrics import REQUESTS

access = structlog.get_logger("tickerdesk.access")


# The caller's id is logged and echoed in a header: 1-64 visible ASCII characters, or a new one.
REQUEST_ID = re.compile(rb"[!-~]{1,64}")


def _request_id(headers) -> str:
    """The caller's X-Request-ID if it is one we can echo; anything else (non-ASCII, spaces,
    control characters, too long) is replaced rather than refused: a tracing header
    should never cost a request."""
    given = next((v for k, v in headers if k == b"x-request-id"), None)
    if given is not None and REQUEST_ID.fullmatch(given):
        return given.decode("ascii")
    return uuid.uuid4().hex


class RequestContext:
    def __init__(self, app, access_log: bool = True):
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request_id = _request_id(scope["headers"])
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
