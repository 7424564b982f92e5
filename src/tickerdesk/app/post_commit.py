"""What follows a commit, in one place: the command stores call this once per
commit with the events it wrote.

- each user whose balance or portfolio changed has their cached views dropped, once
  per commit however many events name them (after the commit, as the read cache's
  versioning requires);
- the metrics see the events;
- the in-process relay is woken, so the events reach their consumers at once.

The commit has happened when this runs: a failing effect is logged, never raised,
since telling the client "failed" about a committed command would be a lie. A cache
entry left stale by a failure expires with its TTL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import structlog

from tickerdesk.app.ports import ReadCache
from tickerdesk.domain.events import Event, changes_holdings

log = structlog.get_logger(__name__)


class PostCommit:
    def __init__(
        self,
        *,
        cache: ReadCache | None = None,
        observe: Callable[[Sequence[Event]], None] | None = None,
        wake_relay: Callable[[], None] | None = None,
    ):
        self.cache = cache
        self.observe = observe
        self.wake_relay = wake_relay

    async def __call__(self, events: Sequence[Event]) -> None:
        if self.wake_relay is not None:
            self.wake_relay()
        if self.observe is not None:
            try:
                self.observe(events)
            except Exception:
                log.exception("metrics failed after a commit")
        if self.cache is not None:
            for user_id in dict.fromkeys(e.user_id for e in events if changes_holdings(e)):
                try:
                    await self.cache.invalidate(user_id)
                except Exception:
                    log.exception("cache invalidation failed after a commit", user_id=user_id)
