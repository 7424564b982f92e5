"""Sends the deliveries the planner (`app/consumers/notifications.py`) stored, one loop
per channel, so a mail server that hangs never delays a push or an SMS.

Each loop claims a batch of its channel's due deliveries for a lease (several loops
or processes may run: each claims its own), sends them `concurrency` at a time, and
records each attempt: delivered; or retried after min(2**attempts, 300) s with jitter;
or, after `max_attempts` or a permanent refusal, failed. A push subscription its
service says is gone (404/410) is deleted. Delivery is at least once: a sender that
dies between sending and recording sends again when the lease runs out.

Grouping: a delivery with a group key (fills of one order, on email and SMS) was
stored to wait a few seconds; when it is sent, the other pending deliveries of its
group go in the same message and are recorded as delivered with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
from collections.abc import Sequence
from datetime import timedelta

import structlog

from tickerdesk.app.notification_messages import compose_email, push_payload, push_topic, render, sms_text
from tickerdesk.app.ports import (
    Clock,
    DeliveryFailed,
    DueNotification,
    EmailChannel,
    NotificationDeliveries,
    NotificationSettings,
    PushChannel,
    SmsChannel,
)
from tickerdesk.app.unsubscribe_links import unsubscribe_url
from tickerdesk.domain.notifications import GROUPED, Channel

log = structlog.get_logger(__name__)

MAX_BACKOFF_SECONDS = 300
PUSH_TTL_SECONDS = 24 * 3600  # a phone that is off for a day still gets it


def backoff_seconds(attempts: int) -> float:
    ceiling = min(2 ** min(attempts, 16), MAX_BACKOFF_SECONDS)
    return random.uniform(ceiling / 2, ceiling)


class NotificationSender:
    def __init__(
        self,
        deliveries: NotificationDeliveries,
        settings: NotificationSettings,
        *,
        email: EmailChannel,
        push: PushChannel,
        sms: SmsChannel,
        clock: Clock,
        secret: str,
        public_url: str,
        max_attempts: int = 8,
        timeout_seconds: float = 10.0,
        batch: int = 50,
        concurrency: int = 8,
    ):
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.deliveries = deliveries
        self.settings = settings
        self.email, self.push, self.sms = email, push, sms
        self.clock = clock
        self.secret = secret
        self.public_url = public_url.rstrip("/")
        self.max_attempts = max_attempts
        self.timeout_seconds = timeout_seconds
        self.batch = batch
        self.concurrency = concurrency
        self._wakeups = {channel: asyncio.Event() for channel in Channel}

    @property
    def lease_seconds(self) -> float:
        """Long enough for a whole batch to be sent, `concurrency` at a time, plus slack."""
        return self.timeout_seconds * math.ceil(self.batch / self.concurrency) + 30

    def wake(self) -> None:
        for wakeup in self._wakeups.values():
            wakeup.set()

    async def send_due(self, channel: Channel) -> int:
        """Claim one batch of `channel`'s due deliveries and attempt each once; how many."""
        due = await self.deliveries.claim_due(channel, self.batch, lease_seconds=self.lease_seconds)
        if not due:
            return 0
        # Members of one group claimed together travel in the first one's message.
        firsts: list[DueNotification] = []
        carried: dict[tuple[str, str], list[DueNotification]] = {}
        for delivery in due:
            if channel in GROUPED and delivery.group_key is not None and delivery.attempts == 0:
                key = (delivery.user_id, delivery.group_key)
                if key in carried:
                    carried[key].append(delivery)
                    continue
                carried[key] = []
            firsts.append(delivery)
        limit = asyncio.Semaphore(self.concurrency)

        async def one(delivery: DueNotification) -> None:
            async with limit:
                key = (delivery.user_id, delivery.group_key or "")
                await self._attempt(delivery, carried.get(key, []) if delivery.group_key else [])

        await asyncio.gather(*(one(d) for d in firsts))
        return len(due)

    async def _attempt(self, delivery: DueNotification, carried: list[DueNotification]) -> None:
        try:
            if delivery.group_key is not None and delivery.channel in GROUPED:
                carried = carried + await self.deliveries.claim_group(delivery, lease_seconds=self.lease_seconds)
            group = sorted([delivery, *carried], key=lambda d: (d.event.occurred_at, d.event.id))
            try:
                await asyncio.wait_for(self._send(delivery, group), self.timeout_seconds)
                error: DeliveryFailed | None = None
            except DeliveryFailed as failure:
                error = failure
            except TimeoutError:
                error = DeliveryFailed(f"timed out after {self.timeout_seconds:g}s")
            if error is None:
                await self.deliveries.mark_delivered(delivery, carried)
                return
            if carried:
                await self.deliveries.release(carried)
            if error.gone and delivery.push is not None:
                await self.settings.delete_push_subscription(delivery.user_id, delivery.push.subscription_id)
            attempts = delivery.attempts + 1
            retry_at = None
            if attempts < self.max_attempts and not error.permanent:
                retry_at = self.clock.now() + timedelta(seconds=backoff_seconds(attempts))
            await self.deliveries.mark_failed_attempt(delivery, error=error.reason, next_attempt_at=retry_at)
            log.warning("notification attempt failed", delivery_id=delivery.delivery_id, channel=str(delivery.channel),
                        attempts=attempts, error=error.reason, retry_at=retry_at)
        except Exception:
            # The lease runs out and the delivery is tried again: at least once.
            log.exception("recording a notification attempt failed", delivery_id=delivery.delivery_id)

    async def _send(self, delivery: DueNotification, group: Sequence[DueNotification]) -> None:
        message = render([d.event for d in group])
        if delivery.channel is Channel.EMAIL:
            link = unsubscribe_url(self.public_url, self.secret, delivery.user_id, message.event_type)
            await self.email.send(compose_email(message, delivery.recipient, app_url=self.public_url + "/",
                                                unsubscribe_url=link))
        elif delivery.channel is Channel.SMS:
            await self.sms.send(delivery.recipient, sms_text(message))
        else:
            if delivery.push is None:
                raise DeliveryFailed("the push subscription was removed", permanent=True)
            urgency = "high" if message.tag.startswith("order-") else "normal"
            await self.push.send(delivery.push, push_payload(message, group[-1].event, app_url=self.public_url + "/"),
                                 ttl_seconds=PUSH_TTL_SECONDS, urgency=urgency, topic=push_topic(message))

    async def run_channel(self, channel: Channel, interval: float = 1.0) -> None:
        """Send `channel`'s deliveries until cancelled: a full batch goes straight on to
        the next, otherwise wait `interval` seconds (or until woken). Never fatal."""
        wakeup = self._wakeups[channel]
        while True:
            try:
                sent = await self.send_due(channel)
            except Exception:
                log.exception("sending notifications failed; retrying", channel=str(channel))
                sent = 0
            if sent < self.batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wakeup.wait(), interval)
                wakeup.clear()

    async def run(self, interval: float = 1.0) -> None:
        """Every channel's loop, until cancelled."""
        await asyncio.gather(*(self.run_channel(channel, interval) for channel in Channel))
