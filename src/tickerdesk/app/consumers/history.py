"""The history projector: builds the transaction history from trade events."""

from __future__ import annotations

from typing import Any

from tickerdesk.adapters.postgres.history import HistoryStore


class HistoryProjector:
    def __init__(self, store: HistoryStore):
        self.store = store

    async def handle(self, events: list[dict[str, Any]]) -> None:
        await self.store.project(events)
