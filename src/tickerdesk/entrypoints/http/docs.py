"""The documentation pages, whole from this machine: Swagger UI at `/docs` and ReDoc at
`/redoc`, their scripts, styles and icon from the `fastapi-offline` distribution under
`/docs/assets/`, never from a CDN. They work without internet, and each page carries a
policy of 'self': neither has an inline script (Swagger UI's start is `swagger-init.js`,
which reads the document's URL from its own tag; ReDoc starts from its `<redoc>` tag).
"""

from __future__ import annotations

from functools import cache
from html import escape
from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from tickerdesk.domain.errors import NotFound

ASSETS = "/docs/assets"
JS, CSS = "text/javascript; charset=utf-8", "text/css; charset=utf-8"
# The files of the `fastapi-offline` distribution, by name, with their media types.
BUNDLED = {"swagger-ui-bundle.js": JS, "swagger-ui.css": CSS, "redoc.standalone.js": JS, "favicon.png": "image/png"}
SWAGGER_INIT = """\
// Swagger UI's start, in a file so that the page's policy can forbid inline scripts.
SwaggerUIBundle({
  url: document.currentScript.dataset.openapiUrl,
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
"""
# Both UIs set styles at run time; ReDoc's search runs in a worker made from a blob.
POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",  # the document, and Swagger UI's "Try it out"
    "worker-src 'self' blob:",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
ASSET_CACHE = "public, max-age=3600"


@cache
def _asset(name: str) -> tuple[bytes, str]:
    if name == "swagger-init.js":
        return SWAGGER_INIT.encode(), JS
    if name not in BUNDLED:
        raise NotFound(f"no documentation asset {name!r}")
    return (files("fastapi_offline") / "static" / name).read_bytes(), BUNDLED[name]


def _page(title: str, head: str, body: str) -> HTMLResponse:
    html = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
{head}
</head>
<body>
{body}
</body>
</html>
"""
    return HTMLResponse(html, headers={"Content-Security-Policy": POLICY})


def install(app: FastAPI) -> None:
    """Serve the pages; the app is made with `docs_url=None, redoc_url=None`."""
    assert app.openapi_url, "the documentation pages show the OpenAPI document"
    openapi_url = app.openapi_url

    def urls(request: Request) -> tuple[str, str]:
        root = request.scope.get("root_path", "").rstrip("/")
        return escape(root + openapi_url), escape(root + ASSETS)

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        spec, assets = urls(request)
        return _page(
            f"{app.title} - Swagger UI",
            f'<link rel="stylesheet" href="{assets}/swagger-ui.css">\n'
            f'<link rel="icon" type="image/png" href="{assets}/favicon.png">',
            f'<div id="swagger-ui"></div>\n<script src="{assets}/swagger-ui-bundle.js"></script>\n'
            f'<script src="{assets}/swagger-init.js" data-openapi-url="{spec}"></script>',
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        spec, assets = urls(request)
        return _page(
            f"{app.title} - ReDoc",
            f'<link rel="icon" type="image/png" href="{assets}/favicon.png">',
            f'<redoc spec-url="{spec}"></redoc>\n<script src="{assets}/redoc.standalone.js"></script>',
        )

    @app.get(ASSETS + "/{name}", include_in_schema=False)
    async def asset(name: str) -> Response:
        content, media_type = _asset(name)
        return Response(content, media_type=media_type, headers={"Cache-Control": ASSET_CACHE})
