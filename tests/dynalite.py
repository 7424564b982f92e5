"""dynalite for the tests: one server for the session (in memory, on a free port), started
by scripts/dynalite.sh (which installs it from deploy/dynalite/package-lock.json) and stopped
at the end. TICKERDESK_TEST_DYNAMODB_ENDPOINT uses another DynamoDB-API server instead.

Each test that needs a table makes its own (`dynamo_history`, a prefix of its own) and
deletes it afterwards, as the PostgreSQL tests make their own databases.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tickerdesk.adapters.dynamodb.client import DynamoClient
from tickerdesk.adapters.dynamodb.history import DynamoHistory

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "dynalite.sh"
REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def start_dynalite(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A dynalite of its own on a free port (its own process group), and its endpoint."""
    subprocess.run([str(SCRIPT), "install"], check=True, timeout=300)
    port = _free_port()
    with open(log, "ab") as out:
        process = subprocess.Popen(
            # Tables stay CREATING for a moment, as on the real service: the store must wait.
            [str(SCRIPT), "run", "--createTableMs", "150", "--deleteTableMs", "20"],
            env={**os.environ, "DYNALITE_PORT": str(port)}, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 20
    while not _answers(port):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_dynalite(process)
            raise RuntimeError(f"dynalite did not start:\n{log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.05)
    return process, f"http://127.0.0.1:{port}"


def stop_dynalite(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


@pytest.fixture(scope="session")
def dynalite_endpoint() -> Iterator[str]:
    if configured := os.environ.get("TICKERDESK_TEST_DYNAMODB_ENDPOINT"):
        yield configured
        return
    process, endpoint = start_dynalite(Path(tempfile.gettempdir()) / f"tickerdesk-dynalite-{os.getpid()}.log")
    try:
        yield endpoint
    finally:
        stop_dynalite(process)


@pytest.fixture
async def dynamo_history(dynalite_endpoint: str) -> AsyncIterator[DynamoHistory]:
    """The DynamoDB history store on a table of the test's own, deleted afterwards."""
    dynamo = await DynamoClient.open(endpoint=dynalite_endpoint, region=REGION)
    history = DynamoHistory(dynamo, f"test-{uuid.uuid4().hex[:10]}-history")
    await history.ensure_table()
    try:
        yield history
    finally:
        await dynamo.delete_table(history.table)
        await dynamo.close()
