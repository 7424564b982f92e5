"""The history projector: builds the transaction history from trade events."""

from __future__ import annotations

from collections.abc import Sequence

from tickerdesk.app.ports import History
from tickerdesk.domain.events import Event


class HistoryProjector:
    def __init__(self, history: History):
        self.history = history

    async def handle(self, events: Sequence[Event]) -> None:
        await self.history.project(events)
