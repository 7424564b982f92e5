"""`tickerdesk up` from nothing (embedded PostgreSQL), then the README's walk-through,
twice against the same server: it is re-runnable, and shows the same figures each time."""

import os
import re
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
    # as a new user starts it: nothing configured, and (a container, ssh, sudo) no XDG_RUNTIME_DIR
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKERDESK_") and k != "XDG_RUNTIME_DIR"}
    env["TICKERDESK_PRICE_WALK_SECONDS"] = "0"
    log = tmp_path / "up.log"  # a file, not a pipe: nobody reads a pipe while the access log fills it
    process = subprocess.Popen(
        [sys.executable, "-m", "tickerdesk.entrypoints.cli", "up", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, text=True,
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
        pytest.fail("tickerdesk up did not become ready:\n" + log.read_text())
    yield base, tmp_path, env
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()


def steps(output: str) -> dict[str, str]:
    """What the walk-through printed under each `== N. ...` heading, by N."""
    return {part[0]: part for part in output.split("\n== ")[1:]}


def test_the_readme_walkthrough_runs_as_shown_and_again(tickerdesk_up):
    base, workdir, env = tickerdesk_up
    tickerdesk = str(Path(sys.executable).with_name("tickerdesk"))
    for run in (1, 2):  # the second run once replayed the first one's canceled order, silently
        result = subprocess.run(
            ["bash", str(WALKTHROUGH)], cwd=workdir, env={**env, "TD": base, "TICKERDESK": tickerdesk},
            capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 0, f"run {run}:\n{result.stdout}{result.stderr}"
        assert result.stderr == "", result.stderr
        step = steps(result.stdout)
        assert "\npending\n" in step["3"]  # as the README's table says
        assert '"availableBalance":8150,"heldForTrades":1850' in step["3"]  # the limit buy holds 10 x 185
        assert '"status":"partiallyExecuted"' in step["4"] and '"filledQuantity":4' in step["4"]
        assert "\ncanceled\n" in step["5"]
        assert '"availableBalance":9264,"heldForTrades":0' in step["5"]  # 10,000 - 4 x 184
        assert '"holdPrice":199.5' in step["6"]  # the market buy's collar: 190 x 1.05
        assert "\nexecuted\n" in step["7"]
        assert '"quantity":6,"heldQuantity":0,"averagePurchasePrice":187.6,"realizedPnl":33.6' in step["8"]
        assert '"availableBalance":8908,"heldForTrades":0,"totalBalance":8908' in step["8"]
    verify = subprocess.run([tickerdesk, "verify"], cwd=workdir, env=env, capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stderr == "", verify.stderr  # no warning from a library (XDG_RUNTIME_DIR) either
    up = (workdir / "up.log").read_text()
    assert "XDG_RUNTIME_DIR" not in up, up
    assert f"--data-dir {workdir.resolve() / '.tickerdesk'}\n" in up  # a token command that works from anywhere
    # one access line per request, as a person reads it (console, not JSON), user and request id included
    placed = [line for line in up.splitlines() if "path=/trade/place" in line]
    assert len(placed) == 6, up  # three placements per run
    assert all(re.search(r"method=POST .*status=201", line) for line in placed), placed
    assert all(re.search(r"user_id=alice-\d+-\d+", line) and "request_id=" in line for line in placed), placed
    assert all(re.search(r"duration_ms=\d+(\.\d+)?", line) for line in placed), placed


def test_a_walkthrough_step_that_is_refused_stops_it_and_shows_why(tickerdesk_up, tmp_path):
    """Loud on failure: a refused request ends the script non-zero with the problem's detail."""
    base, workdir, env = tickerdesk_up
    tickerdesk = str(Path(sys.executable).with_name("tickerdesk"))
    broken = tmp_path / "broken.sh"
    broken.write_text(WALKTHROUGH.read_text().replace('"quantity": 6,', '"quantity": 600000,'))
    result = subprocess.run(
        ["bash", str(broken)], cwd=workdir, env={**env, "TD": base, "TICKERDESK": tickerdesk},
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    assert "== 6." in result.stdout and "== 7." not in result.stdout
    assert "refused:" in result.stderr and '"code":"insufficient_funds"' in result.stderr


def test_the_readme_shows_the_walkthrough_it_tests():
    """The README's block is the script's body (all below `set -euo pipefail`), exactly."""
    body = WALKTHROUGH.read_text().split("set -euo pipefail\n", 1)[1]
    assert "```bash\n" + body + "```\n" in (ROOT / "README.md").read_text()
