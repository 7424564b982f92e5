"""Security headers on every HTTP response, in one pure ASGI middleware.

- `X-Content-Type-Options: nosniff`: a browser never runs a JSON body as a script or page.
- `Referrer-Policy: no-referrer`: URLs (with ids and query strings) do not leak to other sites.
- `Cache-Control: no-store` unless a route set its own: responses carry user data (a
  balance, trades, tokens in error details), and no browser, proxy or CDN may keep them.
- `Content-Security-Policy` unless a route set its own: JSON gets `default-src 'none';
  frame-ancestors 'none'` (nothing in it may load or run, and it cannot be framed). The
  documentation pages get a policy allowing exactly what FastAPI's pages load (Swagger
  UI and ReDoc from jsDelivr, their inline bootstrap script by its hash, the spec from
  this origin); another HTML page gets a same-origin policy without inline scripts.
- `X-Frame-Options: DENY` for browsers that predate `frame-ancestors`.

The `server` banner is not ours to remove here: uvicorn writes it, and the CLI runs
uvicorn with `server_header=False`.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html

JSON_POLICY = "default-src 'none'; frame-ancestors 'none'"
PAGE_POLICY = "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
# Where FastAPI's documentation pages load from today (fastapi.openapi.docs defaults),
# by path, so that the rest of jsDelivr's packages stay out. 'self' too, for when the
# assets are served from the package.
SWAGGER_UI = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/"
REDOC = "https://cdn.jsdelivr.net/npm/redoc@2/"
GOOGLE_FONTS_CSS, GOOGLE_FONTS = "https://fonts.googleapis.com", "https://fonts.gstatic.com"
FAVICON = "https://fastapi.tiangolo.com/img/favicon.png"

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
_COMMON = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


def _hashes(html: str) -> list[str]:
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(html)
    ]


def docs_policy(app: FastAPI, root_path: str = "") -> str:
    """The policy of the documentation pages. Their only inline script is Swagger UI's
    bootstrap (and the OAuth2 redirect page's): it is allowed by its hash, computed from
    the app's own configuration, never from a response, so nothing injected into a page
    could be allowed with it."""
    root = root_path.rstrip("/")
    redirect = app.swagger_ui_oauth2_redirect_url
    pages = [bytes(get_swagger_ui_oauth2_redirect_html().body).decode()]
    if app.openapi_url:
        pages.append(bytes(get_swagger_ui_html(
            openapi_url=root + app.openapi_url, title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=root + redirect if redirect else None,
            init_oauth=app.swagger_ui_init_oauth, swagger_ui_parameters=app.swagger_ui_parameters,
        ).body).decode())
        pages.append(bytes(get_redoc_html(openapi_url=root + app.openapi_url,
                                          title=f"{app.title} - ReDoc").body).decode())
    scripts = " ".join(dict.fromkeys(h for page in pages for h in _hashes(page)))
    return "; ".join([
        "default-src 'none'",
        f"script-src 'self' {SWAGGER_UI} {REDOC} {scripts}",
        # Both UIs set style attributes and inject <style> elements at run time.
        f"style-src 'self' 'unsafe-inline' {SWAGGER_UI} {GOOGLE_FONTS_CSS}",
        f"img-src 'self' data: {FAVICON}",
        f"font-src 'self' {GOOGLE_FONTS}",
        "connect-src 'self'",  # the spec, and Swagger UI's "Try it out"
        "worker-src 'self' blob:",  # ReDoc's search runs in a worker made from a blob
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


class SecurityHeaders:
    def __init__(self, app: Any, docs: FastAPI):
        self.app = app
        self._docs = docs
        self._docs_paths = {p for p in (docs.docs_url, docs.redoc_url, docs.swagger_ui_oauth2_redirect_url) if p}
        self._docs_policy = lru_cache(maxsize=8)(lambda root_path: docs_policy(docs, root_path))

    def _page_policy(self, scope: dict[str, Any]) -> str:
        if scope.get("path") in self._docs_paths:
            policy: str = self._docs_policy(scope.get("root_path", ""))
            return policy
        return PAGE_POLICY

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
                    policy = self._page_policy(scope) if html else JSON_POLICY
                    headers.append((b"content-security-policy", policy.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
