"""Security headers on every HTTP response, in one pure ASGI middleware.

- `X-Content-Type-Options: nosniff`: a browser never runs a JSON body as a script or page.
- `Referrer-Policy: no-referrer`: URLs (with ids and query strings) do not leak to other sites.
- `Cache-Control: no-store` unless a route set its own: responses carry user data (a
  balance, trades, tokens in error details), and no browser, proxy or CDN may keep them.
- `Content-Security-Policy` unless a route set its own: JSON gets `default-src 'none';
  frame-ancestors 'none'` (nothing in it may load or run, and it cannot be framed); an
  HTML page gets a same-origin policy without inline scripts. The documentation pages
  set their own, as strict: everything they load is served from the package (see docs).
- `X-Frame-Options: DENY` for browsers that predate `frame-ancestors`.

The `server` banner is not ours to remove here: uvicorn writes it, and the CLI runs
uvicorn with `server_header=False`.
"""

from __future__ import annotations

from typing import Any

JSON_POLICY = "default-src 'none'; frame-ancestors 'none'"
PAGE_POLICY = "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
_COMMON = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


class SecurityHeaders:
    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower(): value for name, value in headers}
                headers += [(name, value) for name, value in _COMMON if name not in present]
                if b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                if b"content-security-policy" not in present:
                    html = present.get(b"content-type", b"").startswith(b"text/html")
                    policy = PAGE_POLICY if html else JSON_POLICY
                    headers.append((b"content-security-policy", policy.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
