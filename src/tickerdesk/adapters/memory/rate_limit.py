"""The token buckets in one process (`tickerdesk up`)."""

from __future__ import annotations

import time

from tickerdesk.app.rate_limits import Decision, RateLimit, check_cost, decide


class MemoryRateLimiter:
    """The same buckets in one process; `hit` never awaits, so it is atomic on the loop."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float, float]] = {}  # key -> tokens, at, full at
        self._sweep_above = 1024

    def _sweep(self, now: float) -> None:
        # Full buckets are the same as absent ones; dropping them bounds memory by active users.
        self._buckets = {k: b for k, b in self._buckets.items() if b[2] > now}
        self._sweep_above = max(1024, 2 * len(self._buckets))

    async def hit(self, key: str, limit: RateLimit, cost: int = 1) -> Decision:
        check_cost(limit, cost)
        now = time.monotonic()
        tokens, at, _ = self._buckets.get(key, (float(limit.burst), now, now))
        tokens = min(float(limit.burst), tokens + (now - at) * limit.rate)
        allowed = tokens >= cost
        if allowed:
            tokens -= cost
        self._buckets[key] = (tokens, now, now + (limit.burst - tokens) / limit.rate)
        if len(self._buckets) > self._sweep_above:
            self._sweep(now)
        return decide(limit, cost, allowed, tokens)

    async def peek(self, key: str, limit: RateLimit) -> Decision:
        now = time.monotonic()
        tokens, at, _ = self._buckets.get(key, (float(limit.burst), now, now))
        tokens = min(float(limit.burst), tokens + (now - at) * limit.rate)
        return decide(limit, 1, tokens >= 1, tokens)
