"""The execution applier: every report from the venue becomes one transaction."""

from __future__ import annotations

from datetime import UTC, datetime

from ..adapters.postgres.commands import Commands
from ..app.apply_execution import apply_execution
from ..app.ports import ExecutionReport


class ExecutionApplier:
    def __init__(self, commands: Commands):
        self.commands = commands

    async def on_report(self, report: ExecutionReport) -> None:
        await apply_execution(report, commands=self.commands, now=datetime.now(UTC))
