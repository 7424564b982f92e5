"""Serving the web application: plain ES modules, no build step.

At start-up every file under `static/` (and the icons and the PWA manifest, made here) is
read once and named by its content hash: `/assets/<name>.<hash>.<ext>`, served with
`Cache-Control: public, max-age=31536000, immutable`, so nginx or a CDN may keep it for
ever; a new release has new names. The modules import each other by their plain names
(`./api.js`); an import map in `index.html` maps each plain URL to its hashed one, so no
file needs rewriting. `index.html` and the service worker `/sw.js` are `no-cache` (always
revalidated, with an ETag): they are what names the current release.

The page's policy stays strict: scripts only from this origin, plus the one inline script
the page has, the import map, allowed by its SHA-256 hash (Chromium has no external import
maps). No inline styles, no `eval`; Trusted Types forbid HTML from strings (the app builds
its DOM from elements and text only) and allow one script URL, the service worker's.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache
from html import escape
from importlib.resources import files
from importlib.resources.abc import Traversable

from fastapi import FastAPI, Request
from fastapi.responses import Response

from tickerdesk import __version__
from tickerdesk.domain.errors import NotFound
from tickerdesk.entrypoints.web.icons import icon_png

ASSETS = "/assets"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".webmanifest": "application/manifest+json",
}
ICON_SIZES = (192, 512)
THEME_COLOUR = "#0f4c5c"
BACKGROUND_COLOUR = "#f4f7f8"
PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)(?::([A-Za-z0-9_.-]+))?\s*\}\}")


def _policy(import_map_hash: str) -> str:
    return "; ".join([
        "default-src 'self'",
        f"script-src 'self' 'sha256-{import_map_hash}'",  # the modules, and the inline import map by hash
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",  # the API, its WebSocket and its event stream, on this origin only
        "manifest-src 'self'",
        "worker-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types tickerdesk-worker",  # main.js: the one script URL made from text, /sw.js
    ])


# The service worker runs under its own response's policy: it fetches the shell from here only.
WORKER_POLICY = "default-src 'self'; frame-ancestors 'none'"


@dataclass(frozen=True)
class Asset:
    content: bytes
    media_type: str
    etag: str


def _asset(content: bytes, media_type: str) -> Asset:
    return Asset(content, media_type, '"' + hashlib.sha256(content).hexdigest()[:32] + '"')


def _hashed_name(name: str, content: bytes) -> str:
    stem, dot, extension = name.partition(".")
    return f"{stem}.{hashlib.sha256(content).hexdigest()[:16]}{dot}{extension}"


@dataclass(frozen=True)
class Shell:
    """Everything the web application is, for one release."""

    assets: dict[str, Asset]  # by hashed file name
    urls: dict[str, str]  # plain name (`main.js`) -> hashed URL
    import_map: str
    policy: str
    service_worker: Asset
    template: str

    def index(self, dev_login: bool) -> Asset:
        def fill(match: re.Match[str]) -> str:
            kind, name = match.group(1), match.group(2)
            if kind == "url":
                return escape(self.urls[name])
            if kind == "import_map":
                return self.import_map
            if kind == "module_preloads":
                return "\n".join(f'<link rel="modulepreload" href="{escape(url)}">'
                                 for name, url in sorted(self.urls.items()) if name.endswith(".js"))
            if kind == "dev_login":
                return "on" if dev_login else "off"
            if kind == "version":
                return escape(__version__)
            raise KeyError(f"index.html names an unknown placeholder {match.group(0)}")

        return _asset(PLACEHOLDER.sub(fill, self.template).encode(), "text/html; charset=utf-8")


def _static() -> Traversable:
    return files("tickerdesk.entrypoints.web") / "static"


@cache
def shell() -> Shell:
    """Read, hash and link the files once per process (the icons take a moment to draw)."""
    static = _static()
    plain: dict[str, tuple[bytes, str]] = {}
    for folder in (static, static / "js"):
        for entry in folder.iterdir():
            suffix = "." + entry.name.rsplit(".", 1)[-1]
            if entry.is_file() and entry.name != "sw.js" and suffix in (".js", ".css"):
                plain[entry.name] = (entry.read_bytes(), MEDIA_TYPES[suffix])
    for size in ICON_SIZES:
        plain[f"icon-{size}.png"] = (icon_png(size), MEDIA_TYPES[".png"])
    assets: dict[str, Asset] = {}
    urls: dict[str, str] = {}

    def add(name: str, content: bytes, media_type: str) -> None:
        hashed = _hashed_name(name, content)
        assets[hashed] = _asset(content, media_type)
        urls[name] = f"{ASSETS}/{hashed}"

    for name, (content, media_type) in plain.items():
        add(name, content, media_type)
    add("manifest.webmanifest", _manifest(urls), MEDIA_TYPES[".webmanifest"])

    # Keys are the URLs a module's `./name.js` resolves to; values the hashed ones.
    import_map = json.dumps({"imports": {f"{ASSETS}/{name}": url for name, url in sorted(urls.items())
                                         if name.endswith(".js")}}, indent=1)
    digest = base64.b64encode(hashlib.sha256(import_map.encode()).digest()).decode()
    shell_urls = ["/", *sorted(urls.values())]
    release = hashlib.sha256("\n".join(shell_urls).encode()).hexdigest()[:16]
    worker = (static / "sw.js").read_text().replace("__RELEASE__", release).replace(
        "__SHELL__", json.dumps(shell_urls, indent=1))
    return Shell(assets=assets, urls=urls, import_map=import_map, policy=_policy(digest),
                 service_worker=_asset(worker.encode(), MEDIA_TYPES[".js"]),
                 template=(static / "index.html").read_text())


def _manifest(urls: dict[str, str]) -> bytes:
    icons = [{"src": urls[f"icon-{size}.png"], "sizes": f"{size}x{size}", "type": "image/png", "purpose": purpose}
             for size in ICON_SIZES for purpose in ("any", "maskable")]
    return json.dumps({
        "id": "/",
        "name": "tickerdesk",
        "short_name": "tickerdesk",
        "description": "Trade stocks, follow your balance, portfolio and orders live.",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "orientation": "any",
        "background_color": BACKGROUND_COLOUR,
        "theme_color": THEME_COLOUR,
        "icons": icons,
    }, indent=1).encode()


def _send(request: Request, asset: Asset, cache_control: str, policy: str | None = None) -> Response:
    headers = {"Cache-Control": cache_control, "ETag": asset.etag}
    if policy is not None:
        headers["Content-Security-Policy"] = policy
    if asset.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(asset.content, media_type=asset.media_type, headers=headers)


def install(app: FastAPI, *, dev_login: bool) -> None:
    """Serve the web application at `/`; `dev_login` tells the page to offer the dev sign-in."""
    current = shell()
    index = current.index(dev_login)

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def page(request: Request) -> Response:
        return _send(request, index, REVALIDATE, current.policy)

    @app.api_route(ASSETS + "/{name}", methods=["GET", "HEAD"], include_in_schema=False)
    async def asset(request: Request, name: str) -> Response:
        found = current.assets.get(name)
        if found is None:  # an older release's name too: each replica serves its own release's files
            raise NotFound(f"no asset {name!r} in this release")
        return _send(request, found, IMMUTABLE)

    @app.api_route("/sw.js", methods=["GET", "HEAD"], include_in_schema=False)
    async def service_worker(request: Request) -> Response:
        return _send(request, current.service_worker, REVALIDATE, WORKER_POLICY)
