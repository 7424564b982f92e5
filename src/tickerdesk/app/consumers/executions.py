"""The execution applier: every report from the venue becomes one transaction; the
user's cached balance and portfolio are dropped as soon as it commits."""

from __future__ import annotations

from datetime import UTC, datetime

from tickerdesk.adapters.postgres.commands import Commands
from tickerdesk.app.apply_execution import apply_execution
from tickerdesk.app.ports import ExecutionReport


class ExecutionApplier:
    def __init__(self, commands: Commands, cache=None):
        self.commands = commands
        self.cache = cache

    async def on_report(self, report: ExecutionReport) -> None:
        if await apply_execution(report, commands=self.commands, now=datetime.now(UTC)) and self.cache:
            await self.cache.invalidate(report.account)
