"""The `tickerdesk` command as a new user meets it, run as a subprocess from a directory
of the test's own: every command finds `up`'s data directory the same way, and an
expected condition (nothing there, a database not migrated, a server not reachable, a
port in use) is one line naming what and what to do, exit code 2, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import jwt
import pytest

from tests.conftest import _server_url, _with_database, fresh_database

ROOT = Path(__file__).resolve().parents[2]
SECRET = "a-secret-that-up-would-have-made-for-hs256-tokens"


def tickerdesk(*args: str, cwd: Path, timeout: float = 90, **env: str) -> subprocess.CompletedProcess[str]:
    """The CLI with none of the caller's TICKERDESK_ settings, as a new user runs it."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TICKERDESK_") and k != "XDG_RUNTIME_DIR"}
    return subprocess.run([sys.executable, "-m", "tickerdesk.entrypoints.cli", *args], cwd=cwd,
                          env={**clean, "COLUMNS": "80", **env}, capture_output=True, text=True, timeout=timeout)


def one_line(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    """The refusal: exit 2, one line on stderr holding each of `expected`, no traceback."""
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output and "Error:" not in output, output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, output
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("command", [("token", "alice"), ("token", "ops", "--admin"), ("verify",), ("migrate",)])
def test_a_command_where_up_never_ran_names_the_directory_it_looked_in(tmp_path, command):
    result = tickerdesk(*command, cwd=tmp_path)
    line = one_line(result, str(tmp_path / ".tickerdesk"), "--data-dir", "TICKERDESK_DATA_DIR")
    assert "tickerdesk up" in line
    assert not (tmp_path / ".tickerdesk").exists()  # no fresh secret, no empty database made there


def test_every_command_takes_the_data_directory_from_the_option_or_the_environment(tmp_path):
    data, elsewhere = tmp_path / "up-ran-here" / ".tickerdesk", tmp_path / "elsewhere"
    data.mkdir(parents=True)
    elsewhere.mkdir()
    (data / "jwt-secret").write_text(SECRET)
    for result in (tickerdesk("token", "alice", cwd=elsewhere, TICKERDESK_DATA_DIR=str(data)),
                   tickerdesk("token", "alice", "--data-dir", "../up-ran-here/.tickerdesk", cwd=elsewhere)):
        assert result.returncode == 0, result.stderr
        assert jwt.decode(result.stdout.strip(), SECRET, algorithms=["HS256"])["sub"] == "alice"
    # the database is looked for in the same directory (and not made there)
    one_line(tickerdesk("verify", cwd=elsewhere, TICKERDESK_DATA_DIR=str(data)), str(data))
    assert sorted(p.name for p in data.iterdir()) == ["jwt-secret"]
    assert not (elsewhere / ".tickerdesk").exists()


@pytest.fixture
async def empty_database():
    """A database with no tables at all: what `verify` meets before anyone migrated."""
    async with fresh_database("tickerdesk_empty") as url:
        yield url


async def test_verify_of_an_unmigrated_database_says_to_migrate_and_then_passes(tmp_path, empty_database):
    one_line(tickerdesk("verify", cwd=tmp_path, TICKERDESK_DATABASE_URL=empty_database), "tickerdesk migrate")
    migrated = tickerdesk("migrate", cwd=tmp_path, TICKERDESK_DATABASE_URL=empty_database)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    verified = tickerdesk("verify", cwd=tmp_path, TICKERDESK_DATABASE_URL=empty_database)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "all invariants hold" in verified.stdout


@pytest.mark.parametrize("command", ["verify", "migrate"])
def test_an_unreachable_database_server_is_one_line(tmp_path, command):
    port = free_port()  # nothing listens there
    url = f"postgresql://postgres:hunter2@127.0.0.1:{port}/tickerdesk"
    line = one_line(tickerdesk(command, cwd=tmp_path, TICKERDESK_DATABASE_URL=url), f"127.0.0.1:{port}",
                    "TICKERDESK_DATABASE_URL")
    assert "hunter2" not in line  # a password is never printed


def test_a_database_that_does_not_exist_is_one_line(tmp_path):
    url = _with_database(_server_url(), f"tickerdesk_missing_{uuid.uuid4().hex[:8]}")
    one_line(tickerdesk("verify", cwd=tmp_path, TICKERDESK_DATABASE_URL=url), "does not exist")


def test_up_on_a_port_in_use_says_so_before_any_banner(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = tickerdesk("up", "--port", str(port), cwd=tmp_path)
    line = one_line(result, f"127.0.0.1:{port}", "in use", "--port", "make up PORT=")
    assert "serving" not in result.stdout + result.stderr, line
    assert not (tmp_path / ".tickerdesk" / "pg").exists()  # refused before starting a database


def test_make_up_passes_host_and_port_on():
    result = subprocess.run(["make", "-n", "up", "PORT=8001", "HOST=0.0.0.0"], cwd=ROOT, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "tickerdesk up --host 0.0.0.0 --port 8001" in result.stdout
    defaults = subprocess.run(["make", "-n", "up"], cwd=ROOT, capture_output=True, text=True, timeout=30,
                              env={k: v for k, v in os.environ.items() if k not in ("HOST", "PORT")})
    assert "tickerdesk up --host 127.0.0.1 --port 8000" in defaults.stdout
