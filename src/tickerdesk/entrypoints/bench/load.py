"""The load generators: a measurement's requests, replayed by processes other than this one.

A measurement is a list of HTTP requests, written once to files of raw HTTP/1.1
requests (NUL-separated, one file per generator thread or process) and replayed
exactly once each with a fixed number in flight. Its figures: the requests answered,
the wall time from the first sent to the last answered, latency percentiles (raw,
per request: no coordinated-omission correction, as wrk's own report would apply),
every answer that was not an expected status, and requests never answered.

- `wrk` (a C generator: on this 2-core machine it costs a tenth of a core where an
  aiohttp client costs about as much CPU as the server it measures) with the Lua
  script below, when it is installed;
- else Python worker processes (`python -m tickerdesk.entrypoints.bench.pyload`).

The CPU the generator used is measured (the children's rusage), so a report says what
the load itself cost.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import shutil
import signal
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from tickerdesk.codec import dumps

SEPARATOR = b"\0"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    token: str | None = None
    body: Any = None  # JSON
    no_cache: bool = False  # Cache-Control: no-cache: the server reads PostgreSQL, not its cache

    def raw(self, host: str, prefix: str = "", request_id: str | None = None) -> bytes:
        head = [f"{self.method} {prefix}{self.path} HTTP/1.1", f"Host: {host}"]
        if request_id:
            head.append(f"X-Request-ID: {request_id}")
        if self.token:
            head.append(f"Authorization: Bearer {self.token}")
        if self.no_cache:
            head.append("Cache-Control: no-cache")
        payload = b""
        if self.body is not None:
            payload = dumps(self.body).encode()
            head.append("Content-Type: application/json")
        if payload or self.method in ("POST", "PUT"):
            head.append(f"Content-Length: {len(payload)}")
        return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


PADDING = Request("GET", "/healthz")  # opens connections; wrk's script check gets it


@dataclass
class Load:
    """What a generator measured."""

    requests: int  # answered (padding included)
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    unexpected: dict[int, int] = field(default_factory=dict)  # status -> count
    connection_errors: int = 0  # connect, read, write errors and timeouts
    cpu_seconds: float = 0.0  # what the generator's processes used

    @property
    def errors(self) -> int:
        return sum(self.unexpected.values()) + self.connection_errors


class Generator(Protocol):
    name: str

    async def run(self, base_url: str, requests: list[Request], expected: set[int], concurrency: int) -> Load: ...


def _split(base_url: str) -> tuple[str, str]:
    parts = urlsplit(base_url)
    return parts.netloc, parts.path.rstrip("/")


def _write_shares(directory: Path, base_url: str, requests: list[Request], shares: int,
                  tagged: bool = False) -> None:
    """requests-<share> (NUL-separated raw requests, `tagged` with an X-Request-ID that
    names each one's place in its share) and padding."""
    host, prefix = _split(base_url)
    for share in range(shares):
        with open(directory / f"requests-{share}", "wb") as out:
            for index, request in enumerate(requests[share::shares], start=1):
                out.write(request.raw(host, prefix, f"bench-{index}" if tagged else None) + SEPARATOR)
    (directory / "padding").write_bytes(PADDING.raw(host, prefix))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _percentile(ordered: list[float], p: float) -> float:
    """Nearest rank, in milliseconds."""
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


WRK_SCRIPT = r"""
-- tickerdesk bench: replay this thread's requests once, each timed by its X-Request-ID
-- (which the server echoes), then leave the connection idle ("") until the others are done.
-- Each answer is one line of results-<thread>: "<done us> <latency us> <status>".
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock, bench_timespec *now);
]]
local clock = ffi.new("bench_timespec[1]")
local function now_us()
  ffi.C.clock_gettime(1, clock)  -- CLOCK_MONOTONIC
  return tonumber(clock[0].tv_sec) * 1000000 + math.floor(tonumber(clock[0].tv_nsec) / 1000)
end

local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

function init(args)
  local directory = args[1]
  local file = assert(io.open(directory .. "/requests-" .. id, "rb"))
  local data = file:read("*a")
  file:close()
  requests = {}
  local start = 1
  while true do
    local stop = string.find(data, "\0", start, true)
    if not stop then break end
    requests[#requests + 1] = string.sub(data, start, stop - 1)
    start = stop + 1
  end
  file = assert(io.open(directory .. "/padding", "rb"))
  padding = file:read("*a")
  file:close()
  results = assert(io.open(directory .. "/results-" .. id, "w"))
  total = #requests
  sent_at = {}
  -- wrk calls request() once on thread 0 before it starts, to check the script: that
  -- call gets the padding, so no request is lost to it
  sent = (id == 0) and -1 or 0
  answered = 0
  if total == 0 then finish() end
end

function finish()
  results:flush()
  io.write("DONE\n")
  io.stdout:flush()
end

function request()
  sent = sent + 1
  if sent < 1 then return padding end
  if sent > total then return "" end
  local now = now_us()
  sent_at[sent] = now
  if sent == 1 then results:write(string.format("start %d\n", now)) end
  if sent == total then
    io.write("SENT\n")
    io.stdout:flush()
  end
  return requests[sent]
end

function response(status, headers, body)
  local now = now_us()
  local tag = headers["x-request-id"] or headers["X-Request-ID"] or headers["X-Request-Id"] or ""
  local index = tonumber(string.match(tag, "^bench%-(%d+)$"))
  if index and sent_at[index] then
    results:write(string.format("%d %d %d\n", now, now - sent_at[index], status))
  else
    results:write(string.format("%d -1 %d\n", now, status))
  end
  answered = answered + 1
  if answered == total then
    finish()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests_done)
  local e = summary.errors
  io.write(string.format('BENCH_RESULT {"socket_errors": %d}\n', e.connect + e.read + e.write + e.timeout))
end
"""
UNANSWERED_GRACE = 65.0  # s after the last request is sent: wrk's own timeout (60 s), and a margin


class Wrk:
    """wrk, one process with a thread per core. wrk runs for a duration; this stops it
    (SIGINT, after which it reports) once every thread's requests are answered, or a
    grace period after they were all sent (a request lost to a connection error is
    never answered: it counts as a connection error)."""

    name = "wrk"

    def __init__(self, binary: str, threads: int):
        self.binary = binary
        self.threads = threads

    async def run(self, base_url: str, requests: list[Request], expected: set[int], concurrency: int) -> Load:
        threads = max(1, min(self.threads, concurrency, len(requests)))
        connections = max(threads, concurrency // threads * threads)
        with tempfile.TemporaryDirectory(prefix="tickerdesk-bench-") as name:
            directory = Path(name)
            _write_shares(directory, base_url, requests, threads, tagged=True)
            (directory / "bench.lua").write_text(WRK_SCRIPT)
            cpu = _children_cpu()
            process = await asyncio.create_subprocess_exec(
                self.binary, "-t", str(threads), "-c", str(connections), "-d", "3600s", "--timeout", "60s",
                "-s", str(directory / "bench.lua"), base_url, "--", str(directory),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            assert process.stdout is not None and process.stderr is not None
            result = await self._supervise(process, process.stdout, threads)
            error = (await process.stderr.read()).decode(errors="replace")
            await process.wait()
            cpu = _children_cpu() - cpu
            if result is None:
                raise RuntimeError(f"wrk failed (exit {process.returncode}): {error.strip()[-500:]}")
            starts, ends, latencies, statuses = [], [], [], Counter[int]()
            for share in range(threads):
                for line in (directory / f"results-{share}").read_text().splitlines():
                    first, *rest = line.split()
                    if first == "start":
                        starts.append(int(rest[0]))
                        continue
                    ends.append(int(first))
                    if int(rest[0]) >= 0:
                        latencies.append(int(rest[0]) / 1e6)
                    statuses[int(rest[1])] += 1
        latencies.sort()
        answered = sum(statuses.values())
        return Load(requests=answered, seconds=(max(ends) - min(starts)) / 1e6 if ends else 0.0,
                    p50_ms=_percentile(latencies, 0.5), p95_ms=_percentile(latencies, 0.95),
                    p99_ms=_percentile(latencies, 0.99),
                    unexpected={code: n for code, n in statuses.items() if code not in expected},
                    connection_errors=max(result["socket_errors"], len(requests) - answered), cpu_seconds=cpu)

    @staticmethod
    async def _supervise(process: asyncio.subprocess.Process, out: asyncio.StreamReader,
                         threads: int) -> dict[str, Any] | None:
        done = sent = 0
        result = None
        while True:
            try:
                line = await asyncio.wait_for(out.readline(), UNANSWERED_GRACE if sent == threads else None)
            except TimeoutError:  # some request will never be answered: stop and count it
                process.send_signal(signal.SIGINT)
                continue
            if not line:
                return result
            text = line.decode(errors="replace").strip()
            if text == "SENT":
                sent += 1
            elif text == "DONE":
                done += 1
                if done == threads:
                    process.send_signal(signal.SIGINT)
            elif text.startswith("BENCH_RESULT "):
                result = json.loads(text.removeprefix("BENCH_RESULT "))


class PythonWorkers:
    """Worker processes with aiohttp, each with its share of the requests in flight."""

    name = "python"

    def __init__(self, processes: int):
        self.processes = processes

    async def run(self, base_url: str, requests: list[Request], expected: set[int], concurrency: int) -> Load:
        processes = max(1, min(self.processes, concurrency, len(requests)))
        with tempfile.TemporaryDirectory(prefix="tickerdesk-bench-") as directory:
            _write_shares(Path(directory), base_url, requests, processes)
            codes = ",".join(str(code) for code in sorted(expected))
            cpu = _children_cpu()
            workers = [await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tickerdesk.entrypoints.bench.pyload", base_url,
                str(Path(directory) / f"requests-{share}"), str(Path(directory) / "padding"), codes,
                str(concurrency // processes + (share < concurrency % processes)),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE) for share in range(processes)]
            for worker in workers:  # every one connected and waiting: then all start at once
                assert worker.stdout is not None
                ready = await worker.stdout.readline()
                if ready.strip() != b"ready":
                    raise RuntimeError(f"a Python load worker failed to start: {ready!r}")
            for worker in workers:
                assert worker.stdin is not None
                worker.stdin.write(b"go\n")
                await worker.stdin.drain()
            outputs = [await worker.communicate() for worker in workers]
            cpu = _children_cpu() - cpu
        results = [json.loads(out) for out, _ in outputs]
        latencies = sorted(latency for result in results for latency in result["latencies"])
        unexpected: Counter[int] = Counter()
        for result in results:
            unexpected.update({int(code): count for code, count in result["unexpected"].items()})
        seconds = max(r["ended"] for r in results) - min(r["started"] for r in results)
        return Load(requests=len(latencies), seconds=seconds, p50_ms=_percentile(latencies, 0.5),
                    p95_ms=_percentile(latencies, 0.95), p99_ms=_percentile(latencies, 0.99),
                    unexpected=dict(unexpected), cpu_seconds=cpu,
                    connection_errors=sum(r["connection_errors"] for r in results))


def wrk_binary() -> str | None:
    return shutil.which("wrk")


def choose(kind: str, processes: int) -> Generator:
    """`auto`: wrk when installed (scripts/services.sh installs it), else Python workers."""
    cores = os.cpu_count() or 1
    binary = wrk_binary()
    if kind == "wrk" or (kind == "auto" and binary):
        if binary is None:
            raise RuntimeError("wrk is not installed (apt-get install wrk, or ./scripts/services.sh as root); "
                               "--load-generator python uses Python worker processes instead")
        return Wrk(binary, threads=cores)
    if kind not in ("auto", "python"):
        raise ValueError(f"unknown load generator {kind!r}: auto, wrk or python")
    return PythonWorkers(processes)

