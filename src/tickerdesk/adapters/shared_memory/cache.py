"""The read cache of each process of one `tickerdesk up --workers N`, kept coherent.

Each process keeps its own values (as the in-process cache does), and every process
shares one table of generations in shared memory, a counter per slot, users mapped to
slots by hash. A value is stored with the generation of its user's slot read *before*
the database read that made it (`version`, as the read cache's contract asks), and is
served only while that generation is unchanged. `invalidate`, which every process's
post-commit effects call after each commit that changes a user's balance or portfolio,
bumps the slot, so no process serves a value older than another process's commit. Users
that share a slot only cost each other a cache miss.
"""

from __future__ import annotations

import time
from typing import Any

from tickerdesk.adapters.redis.cache import KINDS, check_kind, check_ttl
from tickerdesk.adapters.shared_memory.tables import KeyedCounters, Segment
from tickerdesk.codec import dumps, loads


class SharedReadCache:
    def __init__(self, generations: Segment, *, ttl_seconds: int = 30):
        check_ttl(ttl_seconds)
        self._ttl = ttl_seconds
        self._generations = KeyedCounters(generations)
        # (kind, user) -> expires at, generation, JSON text (so a caller cannot change what the next one gets)
        self._values: dict[tuple[str, str], tuple[float, int, str]] = {}
        self._sweep_above = 4096

    async def get(self, kind: str, user_id: str) -> dict[str, Any] | None:
        check_kind(kind)
        entry = self._values.get((kind, user_id))
        if entry is None:
            return None
        expires_at, generation, text = entry
        if time.monotonic() >= expires_at or self._generations.get(user_id) != generation:
            del self._values[(kind, user_id)]
            return None
        return loads(text)

    async def put(self, kind: str, user_id: str, value: dict[str, Any], *, version: int) -> None:
        check_kind(kind)
        if self._generations.get(user_id) == version:
            now = time.monotonic()
            self._values[(kind, user_id)] = (now + self._ttl, version, dumps(value))
            if len(self._values) > self._sweep_above:
                self._sweep(now)

    def _sweep(self, now: float) -> None:
        self._values = {k: v for k, v in self._values.items() if v[0] > now}
        self._sweep_above = max(4096, 2 * len(self._values))

    async def invalidate(self, user_id: str) -> None:
        self._generations.add(user_id, 1)
        for kind in KINDS:
            self._values.pop((kind, user_id), None)

    async def version(self, user_id: str) -> int:
        return self._generations.get(user_id)
