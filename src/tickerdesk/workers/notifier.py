"""The notifier: stores each user-facing event once in its user's inbox."""

from __future__ import annotations

from typing import Any

from ..adapters.postgres.outbox import Inbox
from ..domain.events import USER_FACING


class Notifier:
    def __init__(self, inbox: Inbox):
        self.inbox = inbox

    async def handle(self, events: list[dict[str, Any]]) -> None:
        await self.inbox.store([e for e in events if e["type"] in USER_FACING])
