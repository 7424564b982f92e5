"""The notifications planner: each event a user chose to hear about by email, push or
SMS becomes one pending delivery per channel and target (see
`tickerdesk.domain.notifications.plan_deliveries`). It only writes rows, so a slow or
failing channel never holds up the event stream; `NotificationSender` sends them.
Idempotent: a redelivered event finds its deliveries stored and adds none."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tickerdesk.app.ports import Clock, NotificationDeliveries, NotificationSettings
from tickerdesk.domain.events import Event
from tickerdesk.domain.notifications import DEFAULT_CHANNELS, PlannedDelivery, plan_deliveries


class NotificationPlanner:
    def __init__(self, settings: NotificationSettings, deliveries: NotificationDeliveries, clock: Clock, *,
                 group_seconds: float, on_enqueued: Callable[[], None] | None = None):
        self.settings = settings
        self.deliveries = deliveries
        self.clock = clock
        self.group_seconds = group_seconds
        self._on_enqueued = on_enqueued  # e.g. NotificationSender.wake

    async def handle(self, events: Sequence[Event]) -> None:
        wanted = [e for e in events if e.type in DEFAULT_CHANNELS]
        if not wanted:
            return
        targets = await self.settings.targets(list(dict.fromkeys(e.user_id for e in wanted)))
        now = self.clock.now()
        planned: list[PlannedDelivery] = []
        for event in wanted:
            if (found := targets.get(event.user_id)) is not None:
                planned += plan_deliveries(event, found, now)
        if planned and await self.deliveries.enqueue(planned, group_seconds=self.group_seconds) and self._on_enqueued:
            self._on_enqueued()
