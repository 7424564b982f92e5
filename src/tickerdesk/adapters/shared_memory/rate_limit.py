"""The token buckets of every process of one `tickerdesk up --workers N`, in shared memory.

An open-addressing table of fixed slots (key hash, tokens, last update, full at), found
by the key's hash with linear probing. A slot whose bucket is full again is the same as
no bucket, so it is taken by the next key that needs a slot. Every hit reads, refills,
takes and writes under the segment's lock, so requests in different processes never
spend one token twice. The clock is `time.monotonic`, one clock for every process of
the machine.
"""

from __future__ import annotations

import struct
import time

from tickerdesk.adapters.shared_memory.tables import Segment, key_hash
from tickerdesk.app.rate_limits import Decision, RateLimit, check_cost, decide

_SLOT = struct.Struct("<Qddd")  # key hash (0: never used), tokens, at, full at
PROBES = 32  # slots looked at for one key before the one soonest full is taken over


class SharedRateLimiter:
    def __init__(self, segment: Segment):
        self._buffer = segment.as_bytes()
        self._lock = segment.lock
        self._slots = segment.size // _SLOT.size

    def _find(self, wanted: int, now: float) -> tuple[int, float | None, float]:
        """The offset of the key's slot with its tokens and time, or of the slot to take
        for it with tokens None: the first free or stale one, else the one soonest full."""
        start = wanted % self._slots
        spare: int | None = None
        soonest, soonest_at = 0, float("inf")
        for probe in range(PROBES):
            offset = (start + probe) % self._slots * _SLOT.size
            found, tokens, at, full_at = _SLOT.unpack_from(self._buffer, offset)
            if found == wanted:
                return offset, tokens, at
            if found == 0:  # never used: the key is not further on
                return (offset if spare is None else spare), None, now
            if spare is None and full_at <= now:
                spare = offset
            if full_at < soonest_at:
                soonest, soonest_at = offset, full_at
        return (soonest if spare is None else spare), None, now

    async def hit(self, key: str, limit: RateLimit, cost: int = 1) -> Decision:
        check_cost(limit, cost)
        wanted = key_hash(key)
        with self._lock:
            now = time.monotonic()
            offset, tokens, at = self._find(wanted, now)
            tokens = float(limit.burst) if tokens is None else min(float(limit.burst),
                                                                   tokens + max(0.0, now - at) * limit.rate)
            allowed = tokens >= cost
            if allowed:
                tokens -= cost
            _SLOT.pack_into(self._buffer, offset, wanted, tokens, now, now + (limit.burst - tokens) / limit.rate)
        return decide(limit, cost, allowed, tokens)

    async def peek(self, key: str, limit: RateLimit) -> Decision:
        with self._lock:
            now = time.monotonic()
            _, tokens, at = self._find(key_hash(key), now)
        tokens = float(limit.burst) if tokens is None else min(float(limit.burst),
                                                               tokens + max(0.0, now - at) * limit.rate)
        return decide(limit, 1, tokens >= 1, tokens)
