"""Clocks: the system's, and one a test sets by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """Stands still until moved: the use-case tests and the differential test run on it."""

    def __init__(self, start: datetime | None = None):
        self.current = start or datetime(2026, 11, 28, 14, 30, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float = 1.0) -> datetime:
        self.current += timedelta(seconds=seconds)
        return self.current
