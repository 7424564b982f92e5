"""The execution applier: every report from the venue becomes one transaction (the
store's post-commit effects drop the user's cached balance and portfolio)."""

from __future__ import annotations

from tickerdesk.app.apply_execution import apply_execution
from tickerdesk.app.ports import Clock, CommandStore, ExecutionReport


class ExecutionApplier:
    def __init__(self, commands: CommandStore, clock: Clock):
        self.commands = commands
        self.clock = clock

    async def on_report(self, report: ExecutionReport) -> None:
        await apply_execution(report, commands=self.commands, clock=self.clock)
