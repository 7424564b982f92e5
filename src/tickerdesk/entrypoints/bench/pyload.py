"""A Python load worker process (the fallback when wrk is not installed).

    python -m tickerdesk.entrypoints.bench.pyload BASE_URL REQUESTS_FILE PADDING_FILE EXPECTED IN_FLIGHT

Reads its share of raw requests (see load.py), opens its connections (with the padding
request), prints `ready`, waits for `go` on stdin, replays them once with IN_FLIGHT at
once, and prints one JSON object: start and end on CLOCK_MONOTONIC (one clock for
every process on the machine), each latency, unexpected statuses, connection errors.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp


def parse(raw: bytes) -> tuple[str, str, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    first, *lines = head.decode().split("\r\n")
    method, path, _ = first.split(" ", 2)
    headers = dict(line.split(": ", 1) for line in lines)
    headers.pop("Host", None)
    headers.pop("Content-Length", None)
    return method, path, headers, body


async def main(base_url: str, requests_file: str, padding_file: str, expected: set[int], in_flight: int) -> None:
    requests = [parse(raw) for raw in Path(requests_file).read_bytes().split(b"\0") if raw]
    padding = parse(Path(padding_file).read_bytes())
    latencies: list[float] = []
    unexpected: Counter[int] = Counter()
    connection_errors = 0
    queue = iter(requests)
    connector = aiohttp.TCPConnector(limit=in_flight)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base_url, connector=connector, timeout=timeout) as session:

        async def call(method: str, path: str, headers: dict[str, str], body: bytes) -> int:
            async with session.request(method, path, headers=headers, data=body or None) as response:
                await response.read()
                return response.status

        # open the connections before the start, as wrk does
        await asyncio.gather(*(call(*padding) for _ in range(in_flight)))
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

        async def worker() -> None:
            nonlocal connection_errors
            for request in queue:  # shared: each request is sent once
                started = time.monotonic()
                try:
                    status = await call(*request)
                except (aiohttp.ClientError, TimeoutError):
                    connection_errors += 1
                    continue
                latencies.append(time.monotonic() - started)
                if status not in expected:
                    unexpected[status] += 1

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        ended = time.monotonic()
    print(json.dumps({"started": started, "ended": ended, "latencies": latencies, "unexpected": unexpected,
                      "connection_errors": connection_errors}))


if __name__ == "__main__":
    url, requests_path, padding_path, codes, flight = sys.argv[1:6]
    asyncio.run(main(url, requests_path, padding_path, {int(c) for c in codes.split(",")}, int(flight)))
