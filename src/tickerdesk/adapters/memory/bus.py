"""The event bus of one process (`tickerdesk up`): what the outbox relay publishes to
when there is no broker. It decodes each envelope once and hands the typed events to
every consumer in turn, in order; the relay deletes the events only once all of them
returned, so a consumer that fails sees the batch again."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tickerdesk.app.ports import EventConsumer
from tickerdesk.codec import decode_event


class InProcessBus:
    def __init__(self, consumers: Sequence[EventConsumer]):
        self.consumers = list(consumers)

    async def publish(self, envelopes: list[dict[str, Any]]) -> None:
        events = [decode_event(e) for e in envelopes]
        for consume in self.consumers:
            await consume(events)
