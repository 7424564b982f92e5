"""`tickerdesk up` as a user starts it: what its real HTTP server (uvicorn, as the CLI
configures it) answers with. No `server: uvicorn` banner, and the security headers."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import asyncpg
import httpx
import pytest

from tests.conftest import _server_url, _with_database

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[str]:
    """`tickerdesk up` on a scratch database of the local server (fast to start)."""
    server = _server_url()
    name = f"tickerdesk_headers_{uuid.uuid4().hex[:8]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(server)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKERDESK_")}
    env |= {"TICKERDESK_PRICE_WALK_SECONDS": "0", "TICKERDESK_DATABASE_URL": _with_database(server, name)}
    process = subprocess.Popen(
        [sys.executable, "-m", "tickerdesk.entrypoints.cli", "up", "--port", str(port)],
        cwd=tmp_path_factory.mktemp("up"), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            process.kill()
            pytest.fail("tickerdesk up did not become ready:\n" + (process.stdout.read() if process.stdout else ""))
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.mark.parametrize("path", ["/healthz", "/stocks", "/balance", "/trade/place", "/docs"])
def test_up_sends_no_server_banner_and_the_security_headers(served, path):
    response = httpx.get(served + path)
    assert response.status_code in (200, 401, 405), response.text
    assert "server" not in response.headers, response.headers
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
