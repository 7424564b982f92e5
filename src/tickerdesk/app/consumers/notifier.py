"""The notifier: stores each user-facing event once in its user's inbox, pushes the
new ones to the real-time hub, and drops cached balances and portfolios they change."""

from __future__ import annotations

from typing import Any

from tickerdesk.adapters.postgres.outbox import Inbox
from tickerdesk.domain.events import USER_FACING, EventType

CACHED = {EventType.BALANCE_UPDATED, EventType.PORTFOLIO_UPDATED}


class Notifier:
    def __init__(self, inbox: Inbox, hub=None, cache=None):
        self.inbox = inbox
        self.hub = hub
        self.cache = cache

    async def handle(self, events: list[dict[str, Any]]) -> None:
        stored = await self.inbox.store([e for e in events if e["type"] in USER_FACING])
        if self.cache is not None:
            for user_id in {e["userId"] for e in events if e["type"] in CACHED}:
                await self.cache.invalidate(user_id)
        if self.hub is not None and stored:
            await self.hub.publish(stored)
