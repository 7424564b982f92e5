"""Prometheus metrics, defined once."""

import gc
import time
from collections.abc import Sequence
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from tickerdesk.domain.events import Event, TradePlaced

REQUESTS = Histogram(
    "tickerdesk_http_request_seconds",
    "HTTP request latency",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
PLACEMENTS = Counter("tickerdesk_placements_total", "Orders placed", ["side", "type"])
CACHE_READS = Counter("tickerdesk_cache_reads_total",
                      "Reads of a cached view (balance, portfolio): hit, miss, or bypass (Cache-Control: no-cache)",
                      ["view", "result"])
OPEN_STREAMS = Gauge("tickerdesk_open_streams", "Open notification connections", ["kind"])
OUTBOX_LAG = Histogram("tickerdesk_outbox_lag_seconds", "Event age when the relay published it",
                       buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30))
CONSUMER_LAG = Histogram("tickerdesk_consumer_lag_seconds", "Event age when a consumer applied it", ["consumer"],
                         buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30))
UP_WORKER = Gauge("tickerdesk_up_worker", "1, labelled with this process's index among the HTTP workers of "
                  "`tickerdesk up --workers N` (absent in one process)", ["worker"])

GC_PAUSES = Histogram("tickerdesk_gc_pause_seconds", "Python's cyclic garbage collector: how long each collection "
                      "stopped this process (every request waits for it)", ["generation"],
                      buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5))


def _time_collections() -> None:
    """A collection stops the event loop; the oldest generation's grows with the heap
    (an in-process venue's deep book), so its pauses are a latency tail to watch."""
    started: list[float] = []

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[:] = [time.perf_counter()]
        elif started:
            GC_PAUSES.labels(str(info["generation"])).observe(time.perf_counter() - started[0])

    gc.callbacks.append(callback)


_time_collections()  # once per process, at import, as prometheus-client's own collectors


def observe_committed(events: Sequence[Event]) -> None:
    """The metrics of a commit (a post-commit effect, see `tickerdesk.app.post_commit`)."""
    for event in events:
        if isinstance(event, TradePlaced):
            PLACEMENTS.labels(str(event.order.side), str(event.order.order_type)).inc()
