"""The read cache in one process (`tickerdesk up`): the Redis cache's contract and
versioning (see `tickerdesk.adapters.redis.cache`) over a dict."""

from __future__ import annotations

import time
from typing import Any

from tickerdesk.adapters.redis.cache import KINDS, check_kind, check_ttl
from tickerdesk.codec import dumps, loads


class MemoryReadCache:
    """The same contract in one process. Nothing awaits between check and store,
    so the event loop makes each call atomic. Values are kept as JSON text so that
    a caller mutating what it got cannot change what the next caller gets."""

    def __init__(self, *, ttl_seconds: int = 30):
        check_ttl(ttl_seconds)
        self._ttl = ttl_seconds
        self._values: dict[tuple[str, str], tuple[float, str]] = {}
        # One int per user ever invalidated: forgetting one could let a stale put through.
        self._versions: dict[str, int] = {}

    async def get(self, kind: str, user_id: str) -> dict[str, Any] | None:
        check_kind(kind)
        entry = self._values.get((kind, user_id))
        if entry is None:
            return None
        expires_at, text = entry
        if time.monotonic() >= expires_at:
            del self._values[(kind, user_id)]
            return None
        return loads(text)

    async def put(self, kind: str, user_id: str, value: dict[str, Any], *, version: int) -> None:
        check_kind(kind)
        if self._versions.get(user_id, 0) == version:
            self._values[(kind, user_id)] = (time.monotonic() + self._ttl, dumps(value))

    async def invalidate(self, user_id: str) -> None:
        self._versions[user_id] = self._versions.get(user_id, 0) + 1
        for kind in KINDS:
            self._values.pop((kind, user_id), None)

    async def version(self, user_id: str) -> int:
        return self._versions.get(user_id, 0)
