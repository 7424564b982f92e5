"""Which users have a live stream (WebSocket or SSE) on some worker of one
`tickerdesk up --workers N`, so the core sends over NOTIFY only what somebody will read.

Every notification is stored in the inbox first; the hub only pushes it to open
streams. Most users have none open, and each NOTIFY costs the core its encoding,
PostgreSQL its queue and every worker its read. So each worker counts, per slot of a
shared table (users mapped to slots by hash), the streams it holds open, and the core
publishes a notification only while its user's slot counts one or more.

Nothing is missed: a stream counts itself before it reads the inbox backlog (the hub
subscribes before the backlog is read), and the core reads the count after the
notification was committed to the inbox. So a notification the core did not publish
was committed before the stream counted itself, and its backlog read finds it. Users
sharing a slot only cost each other a NOTIFY nobody reads, and so would the counts of a
worker killed with streams open (in `up`, a worker's death stops every process anyway).
"""

from __future__ import annotations

from tickerdesk.adapters.shared_memory.tables import KeyedCounters, Segment


class SharedListeners:
    def __init__(self, counts: Segment):
        self._counts = KeyedCounters(counts)

    def add(self, user_id: str) -> None:
        """A stream of the user's opened in this process."""
        self._counts.add(user_id, 1)

    def remove(self, user_id: str) -> None:
        self._counts.add(user_id, -1)

    def listening(self, user_id: str) -> bool:
        """Whether some process may hold a stream of the user's."""
        return self._counts.get(user_id) > 0
