"""`tickerdesk bench` end to end with tiny numbers: it completes, reports every figure,
leaves no scratch database behind, and `verify` is clean. A smoke run, never a speed
threshold (speed is a benchmark, not a test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
import typer

from tests.conftest import _server_url
from tickerdesk.entrypoints.cli import app

pytestmark = pytest.mark.slow


def bench(*args: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """The bench as a process; its server (which inherits the environment) with a small
    pool, and pgbench with few clients (--concurrency): the PostgreSQL server is shared."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TICKERDESK_")}
    env = {**clean, "TICKERDESK_BENCH_SERVER_URL": _server_url(), "TICKERDESK_DATABASE_POOL_SIZE": "8"}
    return subprocess.run([sys.executable, "-m", "tickerdesk.entrypoints.cli", "bench", "--concurrency", "16", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


async def scratch_databases() -> set[str]:
    connection = await asyncpg.connect(_server_url())
    try:
        rows = await connection.fetch("SELECT datname FROM pg_database WHERE datname LIKE 'tickerdesk_bench_%'")
    finally:
        await connection.close()
    return {row["datname"] for row in rows}


def measured(doc: dict, kind: str) -> list[dict]:
    found = [m for m in doc["measurements"] if m["kind"] == kind]
    assert found, f"no {kind} measurement in {[m['name'] for m in doc['measurements']]}"
    for m in found:
        assert m["requests"] > 0 and m["rate"] > 0, m
        assert None not in (m["p50_ms"], m["p95_ms"], m["p99_ms"]), m
        assert m["p50_ms"] <= m["p95_ms"] <= m["p99_ms"], m
        # no unexpected status, no connection error
        assert m["errors"] == 0, (m["name"], m["unexpected_statuses"], m["connection_errors"], doc["server_log"])
        assert m["x_floor"] > 0, m
        assert m["server_cpu_seconds"] is not None and m["load_generator_cpu_seconds"] is not None, m
        assert m["server_cpu_ms_per_request"] >= 0 and m["other_cpu_ms_per_request"] is not None, m
    return found


async def test_the_default_run_with_the_mix_reports_every_figure_and_verify_passes(tmp_path):
    before = await scratch_databases()
    result = bench("--orders", "200", "--users", "20", "--fills", "100", "--pgbench-seconds", "2",
                   "--broker-messages", "300", "--mix", "realistic", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    doc = json.loads(result.stdout)  # stdout is the document alone: progress goes to stderr

    assert doc["pgbench"]["tps"] > 0 and doc["pgbench"]["clients"] >= 1, doc["pgbench"]
    assert doc["floor_rate"] > 0
    assert doc["broker"]["published_per_second"] > 0 and doc["broker"]["delivered_per_second"] > 0, doc["broker"]
    measured(doc, "floor")
    cached, uncached = measured(doc, "read"), measured(doc, "uncached")
    assert [m["name"] for m in cached + uncached] == [
        "GET /balance", "GET /portfolio", "GET /balance, no-cache", "GET /portfolio, no-cache"]
    assert set(doc["cached_x_uncached"]) == {"/balance", "/portfolio"}
    assert all(x > 0 for x in doc["cached_x_uncached"].values())
    [placements] = measured(doc, "placement")
    assert placements["x_pgbench"] > 0 and doc["placements_x_pgbench"] == placements["x_pgbench"]
    notifications = placements["notifications"]
    assert notifications["samples"] > 0 and notifications["missing"] == 0, notifications
    assert notifications["p50_ms"] is not None and notifications["p99_ms"] >= notifications["p50_ms"]
    [mix] = measured(doc, "mix")
    assert mix["x_pgbench"] > 0
    assert doc["fills"]["orders"] == 100 and doc["fills"]["executed"] == 100 and doc["fills"]["error"] is None, \
        doc["fills"]
    assert doc["fills"]["rate"] > 0
    assert doc["websocket_reconnects"] >= 0  # streams the server ended (overflow) and the bench resumed
    assert doc["verify"]["clean"] is True, doc["verify"]
    assert await scratch_databases() == before  # the server's and pgbench's scratch databases are gone


async def test_the_soak_on_python_load_workers_compares_a_deep_book_with_an_empty_one(tmp_path):
    before = await scratch_databases()
    result = bench("--soak", "--soak-orders", "300", "--orders", "100", "--users", "20", "--pgbench-seconds", "0",
                   "--broker-messages", "0", "--load-generator", "python", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    doc = json.loads(result.stdout)

    assert doc["load_generator"] == "python" and doc["pgbench"] is None and doc["broker"] is None
    empty, deep = measured(doc, "placement")
    assert (empty["name"], deep["name"]) == ("place, empty book", "place, deep book")
    [book] = measured(doc, "book")
    assert book["requests"] == 300
    assert doc["soak"]["book_orders"] == 300 and doc["soak"]["p99_ratio"] > 0
    assert doc["soak"]["server_rss_mb_after"] > 0
    assert doc["verify"]["clean"] is True, doc["verify"]
    assert await scratch_databases() == before


def test_more_workers_than_up_can_run_is_refused_in_one_line(tmp_path):
    up = typer.main.get_command(app).commands["up"]  # type: ignore[attr-defined]
    if any("--workers" in param.opts for param in up.params):
        pytest.skip("`tickerdesk up` runs workers: bench passes --workers through")
    result = bench("--workers", "2", cwd=tmp_path, timeout=30)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "--workers" in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
