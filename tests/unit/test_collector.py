"""The garbage collector's settings for a started process, and its pauses in /metrics."""

from __future__ import annotations

import gc

from prometheus_client import REGISTRY

from tickerdesk.entrypoints import collector
from tickerdesk.metrics import GC_PAUSES  # noqa: F401  (importing it starts the timing)


def pauses(generation: int) -> float:
    return REGISTRY.get_sample_value("tickerdesk_gc_pause_seconds_count", {"generation": str(generation)}) or 0.0


def test_a_started_process_freezes_its_heap_and_collects_young_objects_less_often():
    threshold = gc.get_threshold()
    try:
        collector.settle_after_start()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == collector.YOUNG_THRESHOLD
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def test_every_collection_is_timed_by_generation():
    before = pauses(2), pauses(0)
    gc.collect()
    gc.collect(0)
    assert pauses(2) == before[0] + 1
    assert pauses(0) >= before[1] + 1
