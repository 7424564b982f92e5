"""`tickerdesk up` from nothing (embedded PostgreSQL), then the README's walk-through."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
WALKTHROUGH = ROOT / "docs" / "walkthrough.sh"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def tickerdesk_up(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKERDESK_")}
    env["TICKERDESK_PRICE_WALK_SECONDS"] = "0"
    process = subprocess.Popen(
        [sys.executable, "-m", "tickerdesk.entrypoints.cli", "up", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        process.kill()
        pytest.fail("tickerdesk up did not become ready:\n" + process.stdout.read())
    yield base, tmp_path, env
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()


def test_the_readme_walkthrough_runs_as_shown(tickerdesk_up):
    base, workdir, env = tickerdesk_up
    tickerdesk = str(Path(sys.executable).with_name("tickerdesk"))
    result = subprocess.run(
        ["bash", str(WALKTHROUGH)], cwd=workdir, env={**env, "TD": base, "TICKERDESK": tickerdesk},
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert '"availableBalance":8150,"heldForTrades":1850' in out  # the limit buy holds 10 x 185
    assert '"status":"partiallyExecuted"' in out and '"filledQuantity":4' in out
    assert "canceled\n" in out
    assert '"availableBalance":9264,"heldForTrades":0' in out  # 10,000 - 4 x 184
    assert '"holdPrice":199.5' in out  # the market buy's collar: 190 x 1.05
    assert '"quantity":6,"heldQuantity":0,"averagePurchasePrice":187.6,"realizedPnl":33.6' in out
    assert '"availableBalance":8908,"heldForTrades":0,"totalBalance":8908' in out
    verify = subprocess.run([tickerdesk, "verify"], cwd=workdir, env=env, capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_the_readme_shows_the_walkthrough_it_tests():
    readme = (ROOT / "README.md").read_text()
    for line in WALKTHROUGH.read_text().splitlines():
        if line.startswith("curl") or line.startswith("step "):
            assert line in readme, line
