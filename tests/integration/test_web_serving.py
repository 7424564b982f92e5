"""How the web application is served (entrypoints/web/site.py) and the dev sign-in
(entrypoints/http/routes/dev.py): content-hashed assets cached for ever, the page and the
service worker always revalidated, a strict policy that still lets the import map run, and
a dev sign-in that an `api` replica does not have unless told to."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct

import httpx
import jwt
import pytest

from tests.conftest import SECRET
from tickerdesk.entrypoints.http.app import create_app
from tickerdesk.entrypoints.web.site import ASSETS, shell

IMPORT_MAP = re.compile(r'<script type="importmap">(.*?)</script>', re.S)


@pytest.fixture
async def dev_client(settings, runtime):
    app = create_app(settings.model_copy(update={"dev_login": True}), services=runtime.services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://tickerdesk") as c:
        yield c


def asset_urls(page: str) -> set[str]:
    return set(re.findall(r"(/assets/[\w-]+\.[0-9a-f]{16}\.[\w.]+)\"", page))


async def test_the_page_is_revalidated_and_names_every_asset_by_its_content_hash(client):
    page = await client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache"
    urls = asset_urls(page.text)
    assert {u.split("/")[-1].split(".")[0] for u in urls} >= {"main", "api", "stream", "app", "manifest", "icon-192"}
    for url in urls:
        answer = await client.get(url)
        assert answer.status_code == 200, url
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
        digest = url.rsplit("/", 1)[1].split(".")[1]
        assert hashlib.sha256(answer.content).hexdigest().startswith(digest), url  # the name is the content
    again = await client.get("/", headers={"If-None-Match": page.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


async def test_the_policy_allows_the_import_map_by_its_hash_and_no_other_inline_script(client):
    page = await client.get("/")
    policy = page.headers["content-security-policy"]
    (import_map,) = IMPORT_MAP.findall(page.text)
    digest = base64.b64encode(hashlib.sha256(import_map.encode()).digest()).decode()
    assert f"script-src 'self' 'sha256-{digest}'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "require-trusted-types-for 'script'" in policy and "frame-ancestors 'none'" in policy
    # every module the page may import is mapped to a hashed URL the server has
    mapped = json.loads(import_map)["imports"]
    assert all(re.fullmatch(r"/assets/\w+\.[0-9a-f]{16}\.js", url) for url in mapped.values())
    assert set(mapped.values()) <= asset_urls(page.text)
    # the module graph: every relative import of every module is a key of the map
    for url in mapped.values():
        source = (await client.get(url)).text
        for name in re.findall(r'from "\./([\w-]+\.js)"', source):
            assert f"{ASSETS}/{name}" in mapped, (url, name)


async def test_an_unknown_asset_is_a_404_problem(client):
    answer = await client.get("/assets/main.0000000000000000.js")
    assert answer.status_code == 404 and answer.json()["code"] == "not_found"


async def test_the_service_worker_is_revalidated_and_caches_the_shell_only(client):
    page = await client.get("/")
    worker = await client.get("/sw.js")
    assert worker.status_code == 200 and worker.headers["content-type"].startswith("text/javascript")
    assert worker.headers["cache-control"] == "no-cache"
    assert worker.headers["content-security-policy"].startswith("default-src 'self'")
    listed = json.loads(re.search(r"const SHELL = (\[.*?\]);", worker.text, re.S).group(1))
    # the page and its assets (the icons the manifest names too), nothing of the API
    assert set(listed) == {"/"} | set(shell().urls.values())
    assert asset_urls(page.text) <= set(listed) and all(p == "/" or p.startswith(ASSETS + "/") for p in listed)


async def test_the_manifest_makes_an_installable_app_with_real_png_icons(client):
    page = await client.get("/")
    (manifest_url,) = re.findall(r'<link rel="manifest" href="([^"]+)"', page.text)
    manifest = (await client.get(manifest_url)).json()
    assert manifest["start_url"] == "/" and manifest["scope"] == "/" and manifest["display"] == "standalone"
    sizes = set()
    for icon in manifest["icons"]:
        png = (await client.get(icon["src"])).content
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", png[16:24])
        assert icon["sizes"] == f"{width}x{height}" and icon["type"] == "image/png"
        sizes.add((width, icon["purpose"]))
    assert {(192, "any"), (512, "any"), (512, "maskable")} <= sizes


async def test_the_dev_sign_in_is_off_by_default(client):
    """The test app is built like an `api` replica (dev_login left at its default)."""
    answer = await client.post("/dev/sign-in", json={"userId": "alice"})
    assert answer.status_code == 404
    assert '<meta name="tickerdesk:dev-login" content="off">' in (await client.get("/")).text


async def test_the_api_replica_has_no_dev_sign_in(monkeypatch, runtime, tmp_path):
    """`tickerdesk api`'s own factory, configured as in production; given the session's
    services instead of opening its own connections."""
    from tickerdesk import bootstrap

    monkeypatch.setattr(bootstrap, "configure", lambda *args, **kwargs: None)  # leave the session's logging be
    monkeypatch.setenv("TICKERDESK_JWT_SECRET", SECRET)
    monkeypatch.setenv("TICKERDESK_DATA_DIR", str(tmp_path))  # whatever keys the replica keeps, it keeps here
    monkeypatch.delenv("TICKERDESK_DEV_LOGIN", raising=False)

    async def sign_in() -> tuple[int, str]:
        app = bootstrap.api_app()
        app.state.services = runtime.services
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as api:
            answer = await api.post("/dev/sign-in", json={"userId": "alice"})
            return answer.status_code, (await api.get("/")).text

    status, page = await sign_in()
    assert status == 404 and 'name="tickerdesk:dev-login" content="off"' in page
    monkeypatch.setenv("TICKERDESK_DEV_LOGIN", "1")  # an operator who asks for it gets it
    status, page = await sign_in()
    assert status == 200 and 'name="tickerdesk:dev-login" content="on"' in page


async def test_the_dev_sign_in_issues_a_token_for_the_user_and_never_an_admin_one(dev_client):
    assert '<meta name="tickerdesk:dev-login" content="on">' in (await dev_client.get("/")).text
    answer = await dev_client.post("/dev/sign-in", json={"userId": "web-alice"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    token = answer.json()["token"]
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["sub"] == "web-alice" and "scope" not in claims and claims["exp"] - claims["iat"] <= 12 * 3600
    balance = await dev_client.get("/balance", headers={"Authorization": f"Bearer {token}"})
    assert balance.status_code == 200 and balance.json()["userId"] == "web-alice"
    refused = await dev_client.post("/admin/deposits", json={"userId": "web-alice", "amount": 1},
                                    headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 403


@pytest.mark.parametrize(("body", "message"), [
    ({"userId": ""}, "a user id must not be empty"),
    ({"userId": "x" * 129}, "a user id must be at most 128 characters"),
    ({"userId": "a\u0000b"}, "must not contain NUL characters"),
    ({"userId": 7}, "Input should be a valid string"),
    ({}, "Field required"),
    ({"userId": "alice", "admin": True}, "Extra inputs are not permitted"),
])
async def test_the_dev_sign_in_refuses_what_is_not_a_user_id(dev_client, body, message):
    answer = await dev_client.post("/dev/sign-in", json=body)
    assert answer.status_code in (400, 422), answer.text
    problem = answer.json()
    assert problem["code"] == "invalid_request" and message in problem["detail"], problem
