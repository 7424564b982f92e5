"""Event types and the envelope every consumer sees: data, nothing else."""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    TRADE_PLACED = "trade.placed"
    TRADE_PARTIALLY_EXECUTED = "trade.partiallyExecuted"
    TRADE_EXECUTED = "trade.executed"
    TRADE_CANCELED = "trade.canceled"
    TRADE_EXPIRED = "trade.expired"
    TRADE_REJECTED = "trade.rejected"
    BALANCE_UPDATED = "balance.updated"
    PORTFOLIO_UPDATED = "portfolio.updated"
    # Internal: routes a cancel request to the venue; users are told when it lands.
    TRADE_CANCEL_REQUESTED = "trade.cancelRequested"


# What a user's inbox and streams carry.
USER_FACING = frozenset(t for t in EventType if t is not EventType.TRADE_CANCEL_REQUESTED)


_lock = threading.Lock()
_last = [0, 0]  # last millisecond, counter within it


def new_event_id() -> str:
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
    value = (ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | rand
    return str(uuid.UUID(int=value))


new_trade_id = new_event_id


@dataclass(frozen=True)
class Event:
    type: EventType
    user_id: str
    occurred_at: datetime
    data: dict[str, Any]
    id: str = field(default_factory=new_event_id)

    def envelope(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": str(self.type),
            "userId": self.user_id,
            "occurredAt": self.occurred_at,
            "data": self.data,
        }
