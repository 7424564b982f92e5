"""PostgreSQL's own price on this machine: `pgbench -N` on the server tickerdesk uses.

`pgbench -N` (simple updates: one UPDATE, one SELECT, one INSERT per transaction,
one commit) is the closest thing PostgreSQL ships to a placement, which is one
statement and one commit. It runs in a scratch database of its own (`pgbench -i`,
scale 1), dropped afterwards, with as many clients as the HTTP measurements keep in
flight (capped by what the server's max_connections leaves free).
"""

from __future__ import annotations

import asyncio
import glob
import importlib.util
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg

MAX_CLIENTS = 64


@dataclass
class Pgbench:
    tps: float | None
    clients: int
    seconds: float
    binary: str | None
    server_version: str | None = None
    error: str | None = None


def find_pgbench() -> str | None:
    """Debian's (on PATH, or under /usr/lib/postgresql), else the one pgserver bundles."""
    if found := shutil.which("pgbench"):
        return found
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin/pgbench"), key=lambda p: int(Path(p).parts[-3]))
    if debian:
        return debian[-1]
    spec = importlib.util.find_spec("pgserver")  # found, not imported: importing it sets up its runtime
    for location in (spec.submodule_search_locations or []) if spec else []:
        bundled = Path(location) / "pginstall" / "bin" / "pgbench"
        if bundled.exists():
            return str(bundled)
    return None


def with_database(server_url: str, name: str) -> str:
    base, _, query = server_url.partition("?")
    return base.rsplit("/", 1)[0] + "/" + name + ("?" + query if query else "")


async def _pgbench(binary: str, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(binary, *args, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.STDOUT)
    out, _ = await process.communicate()
    text = out.decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"{Path(binary).name} {args[0]} failed: {text.strip()[-400:]}")
    return text


def parse_tps(output: str) -> float:
    # 14+: "tps = 4551.12 (without initial connection time)"; older: "(excluding connections establishing)"
    match = re.search(r"tps = ([\d.]+) \((?:without initial|excluding)", output) or re.search(r"tps = ([\d.]+)",
                                                                                             output)
    if not match:
        raise RuntimeError(f"no tps in pgbench's output: {output.strip()[-400:]}")
    return float(match.group(1))


async def run_pgbench(server_url: str, clients: int, seconds: float) -> Pgbench:
    binary = find_pgbench()
    if binary is None:
        return Pgbench(None, 0, seconds, None, error="no pgbench found (apt-get install postgresql-client, or "
                                                      "the pgserver package bundles one)")
    name = f"tickerdesk_bench_{uuid.uuid4().hex[:8]}_pgbench"
    try:
        admin = await asyncpg.connect(server_url)
    except (OSError, asyncpg.PostgresError) as error:
        return Pgbench(None, 0, seconds, binary, error=f"cannot connect to {server_url}: {error}")
    try:
        version = await admin.fetchval("SHOW server_version")
        free = await admin.fetchval("SELECT current_setting('max_connections')::int - count(*) FROM pg_stat_activity")
        clients = max(1, min(clients, MAX_CLIENTS, free - 10))
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            url = with_database(server_url, name)
            await _pgbench(binary, "-i", "-q", "-s", "1", url)
            threads = max(1, min(clients, os.cpu_count() or 1))
            output = await _pgbench(binary, "-N", "-c", str(clients), "-j", str(threads), "-T",
                                    str(max(1, round(seconds))), url)
            return Pgbench(parse_tps(output), clients, seconds, binary, version)
        except RuntimeError as error:
            return Pgbench(None, clients, seconds, binary, version, error=str(error))
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
