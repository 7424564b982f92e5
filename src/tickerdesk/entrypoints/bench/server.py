"""The server under measurement: `tickerdesk up` on a scratch database, and `verify`.

The scratch database is made on the given PostgreSQL server and dropped afterwards,
whatever happens. The server's CPU time and memory are read from /proc for it and
every process it started (its workers), so a report can say how busy it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import asyncpg

from tickerdesk.entrypoints.bench.pgbench import with_database

TICK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """The bench cannot go on; the message says why (shown in one line)."""


class Refused(BenchError):
    """A set-up request the server answered with an unexpected status."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _tree(pid: int) -> list[int]:
    """pid and its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def machine_cpu_seconds() -> float | None:
    """CPU time this machine spent busy (every process, /proc/stat), for what the server
    and the load generator do not account for: on the bench's own machine, mostly
    PostgreSQL."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle, iowait
    return (sum(fields[:8]) - idle) / TICK


def tree_cpu_seconds(pid: int) -> float:
    total = 0
    for member in _tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def tree_rss_mb(pid: int) -> float:
    total = 0
    for member in _tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


@dataclass
class Server:
    url: str
    secret: str
    database_url: str | None  # None: a running deployment (--target)
    process: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = None  # what it wrote (stdout and stderr)

    def log_tail(self, size: int = 3000) -> str | None:
        return _tail(self.log, size) if self.log else None

    def cpu_seconds(self) -> float | None:
        return tree_cpu_seconds(self.process.pid) if self.process else None

    def rss_mb(self) -> float | None:
        return tree_rss_mb(self.process.pid) if self.process else None

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM (a graceful shutdown), then SIGKILL for it and its workers after `grace`
        seconds: a server waits for each notification stream to notice its client left,
        which it does at the stream's next heartbeat (15 s), and the bench has no use for
        that wait (verify reads what was committed)."""
        if self.process is None or self.process.poll() is not None:
            return
        members = _tree(self.process.pid)
        self.process.terminate()
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            for pid in members:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            self.process.wait(10)


@asynccontextmanager
async def scratch_server(server_url: str, workers: int | None, price_walk_seconds: float) -> AsyncIterator[Server]:
    """`tickerdesk up` (with `--workers` when given) on a database made for it; both
    are gone afterwards."""
    name = f"tickerdesk_bench_{uuid.uuid4().hex[:8]}"
    try:
        admin = await asyncpg.connect(server_url)
    except (OSError, asyncpg.PostgresError) as error:
        raise BenchError(f"cannot connect to the PostgreSQL server {server_url} ({error}): start it, or pass "
                         "--server-url (TICKERDESK_BENCH_SERVER_URL)") from None
    await admin.execute(f'CREATE DATABASE "{name}"')
    database_url = with_database(server_url, name)
    secret = uuid.uuid4().hex * 2
    port = free_port()
    try:
        with tempfile.TemporaryDirectory(prefix="tickerdesk-bench-") as data_dir, \
                open(Path(data_dir) / "server.log", "w+b") as log:
            env = {**os.environ, "TICKERDESK_DATABASE_URL": database_url, "TICKERDESK_JWT_SECRET": secret,
                   "TICKERDESK_DATA_DIR": data_dir, "TICKERDESK_PRICE_WALK_SECONDS": str(price_walk_seconds),
                   "TICKERDESK_LOG_LEVEL": "warning"}
            command = [sys.executable, "-m", "tickerdesk.entrypoints.cli", "up", "--port", str(port)]
            if workers is not None:
                command += ["--workers", str(workers)]
            server = Server(f"http://127.0.0.1:{port}", secret, database_url,
                            subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT), log)
            try:
                await _ready(server, log)
                yield server
            except BenchError as error:  # what the server said about it helps more than a status
                server.stop()
                raise BenchError(f"{error}\n`tickerdesk up`'s output ends with:\n{server.log_tail()}") from None
            finally:
                server.stop()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def _tail(log: IO[bytes], size: int = 3000) -> str:
    log.flush()
    log.seek(0, os.SEEK_END)
    log.seek(max(0, log.tell() - size))
    return log.read().decode(errors="replace").strip()


async def _ready(server: Server, log: IO[bytes]) -> None:
    import aiohttp

    assert server.process is not None
    async with aiohttp.ClientSession() as session:
        for _ in range(240):
            if server.process.poll() is not None:
                raise BenchError(f"`tickerdesk up` exited with {server.process.returncode}")
            try:
                async with session.get(server.url + "/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.25)
    raise BenchError("`tickerdesk up` was not ready after 60 s")


@dataclass
class Verdict:
    clean: bool | None  # None: not run
    output: str


async def run_verify(database_url: str | None) -> Verdict:
    """`tickerdesk verify` as a process, on the scratch database (or, against a running
    deployment, on whatever database this environment configures)."""
    env = dict(os.environ)
    if database_url:
        env["TICKERDESK_DATABASE_URL"] = database_url
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tickerdesk.entrypoints.cli", "verify", env={**env, "COLUMNS": "160"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await process.communicate()
    text = out.decode(errors="replace").strip()
    if process.returncode == 0:
        return Verdict(True, text)
    if process.returncode == 1:
        return Verdict(False, text)
    return Verdict(None, f"not run: {text}")
