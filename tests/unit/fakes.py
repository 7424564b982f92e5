"""Fakes for the ports the use cases need, so a use case runs in microseconds with no
database: the in-memory command store (the same one the differential test checks
against PostgreSQL), a clock that stands still, a price book, and recorders for the
ports whose calls are the behaviour (cache, venue, hub, inbox)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tickerdesk.adapters.memory.clock import FixedClock
from tickerdesk.adapters.memory.price_book import MemoryPriceBook
from tickerdesk.adapters.memory.store import MemoryCommandStore
from tickerdesk.app.ports import Notification, VenueOrder
from tickerdesk.app.post_commit import PostCommit
from tickerdesk.domain.events import Event
from tickerdesk.domain.instruments import Instrument


@dataclass
class RecordingCache:
    invalidated: list[str] = field(default_factory=list)

    async def get(self, kind: str, user_id: str) -> dict[str, Any] | None:
        return None

    async def put(self, kind: str, user_id: str, value: dict[str, Any], *, version: int) -> None:
        pass

    async def invalidate(self, user_id: str) -> None:
        self.invalidated.append(user_id)

    async def version(self, user_id: str) -> int:
        return 0


@dataclass
class RecordingVenue:
    submitted: list[VenueOrder] = field(default_factory=list)
    canceled: list[str] = field(default_factory=list)

    async def submit(self, order: VenueOrder) -> None:
        self.submitted.append(order)

    async def cancel(self, trade_id: str, account: str, symbol: str) -> None:
        self.canceled.append(trade_id)


@dataclass
class MemoryInbox:
    stored: dict[tuple[str, str], Notification] = field(default_factory=dict)

    async def store(self, events: Sequence[Event]) -> list[Notification]:
        out = []
        for event in events:
            key = (event.user_id, event.id)
            if key not in self.stored:
                self.stored[key] = Notification(len(self.stored) + 1, event)
            out.append(self.stored[key])
        return sorted(out, key=lambda n: n.seq)

    async def after(self, user_id: str, *, after: int | None, limit: int) -> list[Notification]:
        return [n for n in self.stored.values() if n.event.user_id == user_id and n.seq > (after or 0)][:limit]


@dataclass
class RecordingHub:
    published: list[Notification] = field(default_factory=list)

    async def publish(self, notifications: Sequence[Notification]) -> None:
        self.published += notifications


class World:
    """A store, a clock, prices and instruments: what a use case is called with."""

    def __init__(self) -> None:
        self.cache = RecordingCache()
        self.wakes = 0
        self.post_commit = PostCommit(cache=self.cache, wake_relay=self._wake)
        self.commands = MemoryCommandStore(self.post_commit)
        self.clock = FixedClock()
        self.prices = MemoryPriceBook({"AAPL": Decimal("190"), "MSFT": Decimal("400")})
        self.instruments = {s: Instrument(s, s) for s in ("AAPL", "MSFT")}

    def _wake(self) -> None:
        self.wakes += 1

    @property
    def outbox(self) -> list[Event]:
        return self.commands.books.outbox
