"""The documentation pages work offline: everything they load is served by tickerdesk
itself, and their policy allows nothing else (nor any inline script)."""

from __future__ import annotations

import re

import pytest

ASSET_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


def loaded_by(page: str) -> list[str]:
    return re.findall(r'<(?:script|link)\b[^>]*\b(?:src|href)="([^"]+)"', page)


def policy(header: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in header.split(";") if d.strip()}


@pytest.mark.parametrize(("path", "expected"), [
    ("/docs", {"swagger-ui-bundle.js", "swagger-init.js", "swagger-ui.css", "favicon.png"}),
    ("/redoc", {"redoc.standalone.js", "favicon.png"}),
])
async def test_a_documentation_page_loads_only_what_tickerdesk_serves(client, path, expected):
    response = await client.get(path)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "http://" not in page and "https://" not in page  # no CDN, no fonts from elsewhere
    assert not re.search(r"<script>", page), "an inline script would need the policy to allow it"
    assets = loaded_by(page)
    assert {a.rsplit("/", 1)[1] for a in assets} == expected
    assert "/openapi.json" in page  # where the page reads the document
    for asset in assets:
        assert asset.startswith("/docs/assets/"), asset
        served = await client.get(asset)
        assert served.status_code == 200, asset
        assert served.headers["content-type"].startswith(ASSET_TYPES[asset[asset.rindex("."):]]), asset
        assert served.headers["x-content-type-options"] == "nosniff"
        assert len(served.content) > (200 if asset.endswith("init.js") else 4000), asset
    directives = policy(response.headers["content-security-policy"])
    assert directives["default-src"] == ["'none'"] and directives["script-src"] == ["'self'"]
    assert directives["connect-src"] == ["'self'"] and directives["frame-ancestors"] == ["'none'"]
    assert not any(source.startswith("http") for sources in directives.values() for source in sources)


async def test_the_assets_are_the_real_interfaces(client):
    swagger = (await client.get("/docs/assets/swagger-ui-bundle.js")).text
    assert "SwaggerUIBundle" in swagger
    assert "Redoc" in (await client.get("/docs/assets/redoc.standalone.js")).text
    start = (await client.get("/docs/assets/swagger-init.js")).text
    assert "SwaggerUIBundle(" in start and "dataset.openapiUrl" in start


@pytest.mark.parametrize("name", ["nope.js", "..%2F..%2Fpyproject.toml", "%2E%2E", "swagger-ui-bundle.js%00"])
async def test_only_the_known_assets_are_served(client, name):
    response = await client.get(f"/docs/assets/{name}")
    assert response.status_code in (400, 404)  # a NUL is refused before any lookup
    assert response.headers["content-type"] == "application/problem+json"
