"""Python's cyclic garbage collector, set for a server that answers in milliseconds.

A collection stops the event loop, and every request in flight waits for it
(`tickerdesk_gc_pause_seconds` shows each one). Two things keep those pauses short
and rare:
- what start-up made (the app, its routes and schemas, the pools; in the core
  process the venue's book as restored at start) lives as long as the process, so it
  is frozen out of the collector's sight: a full collection then scans only what
  came after;
- a request allocates thousands of objects, nearly all freed by reference counting
  at once; the default threshold (700 allocations) would run a young collection every
  few requests and a full one every few thousand. A larger young generation (as
  Python 3.13's own default moved from 700 to 2000) runs them an order of magnitude
  less often, each one still short.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000


def settle_after_start() -> None:
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
