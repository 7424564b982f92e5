"""The notifier: stores each user-facing event once in its user's inbox and pushes
the notifications to the real-time hub."""

from __future__ import annotations

from collections.abc import Sequence

from tickerdesk.app.ports import Inbox, NotificationHub
from tickerdesk.domain.events import Event


class Notifier:
    def __init__(self, inbox: Inbox, hub: NotificationHub | None = None):
        self.inbox = inbox
        self.hub = hub

    async def handle(self, events: Sequence[Event]) -> None:
        stored = await self.inbox.store([e for e in events if e.user_facing])
        if self.hub is not None and stored:
            await self.hub.publish(stored)
