"""Identifiers: UUIDv7, unique and ordered by creation time.

Trade ids and event ids are both UUIDv7, so ordering by id is ordering by time:
the history pages by trade id, and a read model only moves forward to a later event id.
"""

from __future__ import annotations

import os
import threading
import time

_lock = threading.Lock()
_last = [0, 0]  # last millisecond, counter within it


def new_id() -> str:
    """A UUIDv7: unique, and ordered by creation time (monotonic within a process)."""
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last[0]:
            ms, counter = _last[0], _last[1] + 1
            if counter > 0xFFF:  # more than 4096 ids in one ms: borrow the next ms
                ms, counter = ms + 1, 0
        else:
            counter = 0
        _last[0], _last[1] = ms, counter
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    h = f"{(ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | rand:032x}"
    # uuid.UUID(int=...) would validate what is valid by construction, at several times the cost
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


new_event_id = new_id
new_trade_id = new_id
