"""The webhook dispatcher: one pending delivery per user-facing event and matching
webhook. Idempotent, so at-least-once event delivery is fine; the sender (an
adapter, `tickerdesk.adapters.webhook_sender`) POSTs them."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tickerdesk.app.ports import Webhooks
from tickerdesk.domain.events import Event


class WebhookDispatcher:
    def __init__(self, store: Webhooks, *, on_enqueued: Callable[[], None] | None = None):
        self.store = store
        self._on_enqueued = on_enqueued  # e.g. WebhookSender.wake

    async def handle(self, events: Sequence[Event]) -> None:
        if await self.store.enqueue([e for e in events if e.user_facing]) and self._on_enqueued is not None:
            self._on_enqueued()
