"""Webhooks: the sender POSTs the deliveries the dispatcher
(`tickerdesk.app.consumers.webhooks`) made, retrying with back-off.

What a receiver gets
--------------------
One POST per event per webhook, at least once (deduplicate by `webhook-id`, the
event's `id`), not necessarily in order (order by `occurredAt`), signed as the Standard
Webhooks specification says (see tickerdesk.adapters.webhook_signatures):

    Content-Type: application/json
    webhook-id: 0194d1f2-8a4b-7c3d-9e5f-0a1b2c3d4e5f
    webhook-timestamp: 1735689600
    webhook-signature: v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=
    Tickerdesk-Event: trade.executed
    Tickerdesk-Delivery: 1234
    Tickerdesk-Timestamp: 1735689600                      deprecated: removed in the next release
    Tickerdesk-Signature: v1=5257a869e7ec...8d8bd          deprecated: removed in the next release

    {"id":"...","type":"trade.executed","userId":"...","occurredAt":"...","data":{...}}

The body is the event envelope, the same one `GET /notifications` shows; numbers
are exact decimals (parse them as decimals, not floats). Verify it with a
`standardwebhooks` library (any language) or `tickerdesk_client.verify_webhook`.

Any 2xx answer within the timeout counts as delivered; anything else (another
status, redirects included, a timeout, a refused connection) is retried after
min(2**attempts, 300) seconds, with jitter, until the configured number of
attempts, after which the delivery is `failed`.

Deliveries go to public addresses only: a host that is, or resolves to, a loopback,
private, link-local or cloud metadata address is never connected to, and the attempt
fails with "not sent: ..." (see tickerdesk.adapters.outbound_guard). Hosts on the
configured allow list (TICKERDESK_WEBHOOK_ALLOWED_HOSTS; tests, local receivers) are exempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta

import aiohttp
import structlog

from tickerdesk.adapters.outbound_guard import GuardedSessions, refused_destination
from tickerdesk.adapters.postgres.webhooks import DueDelivery, PgWebhooks
from tickerdesk.adapters.webhook_signatures import legacy_sign, standard_headers
from tickerdesk.codec import dumps

log = structlog.get_logger(__name__)

MAX_BACKOFF_SECONDS = 300
USER_AGENT = "tickerdesk-webhooks/1"


def backoff_seconds(attempts: int) -> float:
    """The wait after the `attempts`-th failed attempt: min(2**attempts, 300) seconds,
    somewhere in its upper half, so that receivers coming back are not stampeded."""
    ceiling = min(2 ** min(attempts, 16), MAX_BACKOFF_SECONDS)
    return random.uniform(ceiling / 2, ceiling)


class WebhookSender:
    """Sends due deliveries. Several senders (tasks or processes) may run at once:
    each claims its own deliveries."""

    def __init__(
        self,
        store: PgWebhooks,
        *,
        timeout_seconds: float,
        max_attempts: int,
        session_factory: Callable[[], aiohttp.ClientSession] | None = None,
        batch: int = 100,
        concurrency: int = 16,
        allowed_hosts: Collection[str] = (),
        clock: Callable[[], float] = time.time,
    ):
        """`allowed_hosts` may be reached although they are not public; `session_factory`
        makes the session for every other host (default: one that refuses addresses inside);
        `clock` gives the Unix time each attempt is signed with."""
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.store = store
        self.timeout_seconds = timeout_seconds
        self.max_attempts = max_attempts
        self.batch = batch
        self.concurrency = concurrency
        self._sessions = GuardedSessions(allowed_hosts, session_factory)
        self.clock = clock
        self._wakeup = asyncio.Event()

    @property
    def lease_seconds(self) -> float:
        """Long enough for a whole batch to be sent, `concurrency` at a time, plus slack."""
        return self.timeout_seconds * math.ceil(self.batch / self.concurrency) + 30

    def wake(self) -> None:
        self._wakeup.set()

    async def close(self) -> None:
        await self._sessions.close()

    async def send_due(self) -> int:
        """Claim one batch of due deliveries and attempt each once; returns how many."""
        due = await self.store.claim_due(self.batch, lease_seconds=self.lease_seconds)
        if not due:
            return 0
        limit = asyncio.Semaphore(self.concurrency)

        async def one(delivery: DueDelivery) -> None:
            async with limit:
                await self._attempt(delivery)

        await asyncio.gather(*(one(d) for d in due))
        return len(due)

    async def _attempt(self, delivery: DueDelivery) -> None:
        status_code, error = await self._post(delivery)
        try:
            if error is None:
                assert status_code is not None  # no error: a 2xx response (see _post)
                await self.store.mark_delivered(delivery, status_code=status_code)
                log.debug("webhook delivered", delivery_id=delivery.delivery_id, status_code=status_code)
                return
            attempts = delivery.attempts + 1
            retry_at = None
            if attempts < self.max_attempts:
                retry_at = datetime.now(UTC) + timedelta(seconds=backoff_seconds(attempts))
            await self.store.mark_failed_attempt(
                delivery, status_code=status_code, error=error, next_attempt_at=retry_at
            )
            log.warning(
                "webhook attempt failed",
                delivery_id=delivery.delivery_id, webhook_id=delivery.webhook_id, attempts=attempts,
                status_code=status_code, error=error, retry_at=retry_at,
            )
        except Exception:
            # The lease runs out and the delivery is tried again: at least once.
            log.exception("recording a webhook attempt failed", delivery_id=delivery.delivery_id)

    async def _post(self, delivery: DueDelivery) -> tuple[int | None, str | None]:
        """(status code, error): error None means delivered."""
        body = dumps(delivery.payload).encode()
        timestamp = int(self.clock())  # of this attempt: a retry is signed anew
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            # Standard Webhooks: the id is the event's, so a receiver deduplicates retries by it.
            **standard_headers(delivery.secret, delivery.event_id, timestamp, body),
            "Tickerdesk-Event": delivery.event_type,
            "Tickerdesk-Delivery": str(delivery.delivery_id),
            # Deprecated, sent for one more release: our own scheme before Standard Webhooks.
            "Tickerdesk-Timestamp": str(timestamp),
            "Tickerdesk-Signature": legacy_sign(delivery.secret, timestamp, body),
        }
        try:
            async with self._sessions.for_url(delivery.url).post(
                delivery.url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout_seconds),
                allow_redirects=False,
            ) as response:
                if 200 <= response.status < 300:
                    return response.status, None
                return response.status, f"HTTP {response.status}"
        except TimeoutError:
            return None, f"timed out after {self.timeout_seconds:g}s"
        except Exception as error:  # connection refused, DNS, TLS, invalid URL...
            if (refused := refused_destination(error)) is not None:
                return None, f"not sent: {refused}; webhooks go to public addresses only"
            return None, f"{type(error).__name__}: {error}" if str(error) else type(error).__name__

    async def run(self, interval: float = 1.0) -> None:
        """Send until cancelled: a full batch goes straight on to the next, otherwise
        wait `interval` seconds (or until woken). Errors are logged, never fatal."""
        try:
            while True:
                try:
                    sent = await self.send_due()
                except Exception:
                    log.exception("webhook sending failed; retrying")
                    sent = 0
                if sent < self.batch:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wakeup.wait(), interval)
                    self._wakeup.clear()
        finally:
            await self.close()
