"""Per-user token buckets: the limits and the arithmetic every limiter shares.

A bucket holds up to `burst` tokens and refills at `rate` per second; a request
takes `cost` tokens or is refused. The Redis bucket is one Lua script (read,
refill, take, write), so concurrent requests from many API processes can never
spend the same token twice, and it reads the clock from Redis `TIME`, so
processes with drifting clocks agree. The in-process twin serves `tickerdesk up`.
Both adapters decide with the functions here.

A bucket is identified by its key alone; callers put the route group in the key
(e.g. "place:<user>") so that groups with different limits never share tokens.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_LIMIT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*/\s*(\d+)\s*")


@dataclass(frozen=True)
class RateLimit:
    rate: float  # tokens per second
    burst: int  # bucket size

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate) and self.rate > 0) or self.burst < 1:
            raise ValueError(f"rate limit needs rate > 0 and burst >= 1, got {self.rate}/{self.burst}")

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """Read "<rate per second>/<burst>": "50/100" is 50 a second in a bucket of 100,
        "0.5/1" one request every 2 s. Anything else, zero included, is a ValueError."""
        match = _LIMIT.fullmatch(text)
        if match is None:
            raise ValueError(f"rate limit {text!r} is not '<rate per second>/<burst>', e.g. '50/100'")
        return cls(float(match[1]), int(match[2]))


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int  # the burst
    remaining: int  # whole tokens left after this request
    reset_seconds: float  # until the bucket is full again
    retry_after: float  # until this request's cost is available (0 when allowed)


def decide(limit: RateLimit, cost: int, allowed: bool, tokens: float) -> Decision:
    return Decision(
        allowed=allowed,
        limit=limit.burst,
        remaining=math.floor(tokens),
        reset_seconds=max(0.0, (limit.burst - tokens) / limit.rate),
        retry_after=0.0 if allowed else max(0.0, (cost - tokens) / limit.rate),
    )


def check_cost(limit: RateLimit, cost: int) -> None:
    # A request dearer than the whole bucket could never pass; that is a bug, not a limit.
    if not 1 <= cost <= limit.burst:
        raise ValueError(f"cost must be between 1 and the burst ({limit.burst}), got {cost}")


def expiry_seconds(limit: RateLimit) -> int:
    # An idle bucket is full after burst/rate seconds, and a missing bucket reads as
    # full, so it can go then; twice that leaves a margin.
    return math.ceil(limit.burst / limit.rate) * 2
