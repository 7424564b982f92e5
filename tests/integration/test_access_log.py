"""One access log line per request (method, path, status, duration, user, request id),
written by the request middleware through structlog; TICKERDESK_ACCESS_LOG=false turns it off."""

from __future__ import annotations

import httpx
import structlog

from tickerdesk.entrypoints.http.app import create_app


def access_lines(logs: list[dict]) -> list[dict]:
    return [entry for entry in logs if entry.get("event") == "request"]


async def test_a_request_writes_one_line_with_its_user_and_request_id(client, trader):
    alice = await trader(100)
    with structlog.testing.capture_logs() as logs:
        response = await client.get("/balance", headers={**alice.headers, "X-Request-ID": "walk-42"})
    assert response.status_code == 200
    [line] = access_lines(logs)
    assert line["method"] == "GET" and line["path"] == "/balance" and line["status"] == 200
    assert line["user_id"] == alice.user_id
    assert line["request_id"] == "walk-42" == response.headers["x-request-id"]
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["log_level"] == "info"


async def test_a_refused_or_anonymous_request_is_logged_with_its_status_and_no_user(client, trader):
    alice = await trader()
    with structlog.testing.capture_logs() as logs:
        await client.get("/balance")
        await client.get("/trade/00000000-0000-7000-8000-000000000000", headers=alice.headers)
    unauthenticated, missing = access_lines(logs)
    assert (unauthenticated["path"], unauthenticated["status"], unauthenticated["user_id"]) == ("/balance", 401, None)
    assert unauthenticated["request_id"]  # made up when the client sent none
    assert (missing["status"], missing["user_id"]) == (404, alice.user_id)


async def test_the_access_log_can_be_turned_off(settings, runtime):
    app = create_app(settings.model_copy(update={"access_log": False}), services=runtime.services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://tickerdesk") as quiet:
        with structlog.testing.capture_logs() as logs:
            assert (await quiet.get("/healthz")).status_code == 200
    assert access_lines(logs) == []
