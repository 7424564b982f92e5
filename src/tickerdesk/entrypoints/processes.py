"""What every long-running process shares: running until a signal, and a metrics port
for the processes that have no HTTP API of their own."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable
from typing import Any

from tickerdesk.config import Settings

WORKERS = ("venue-gateway", "executions", "notifier", "history", "webhooks", "webhook-sender", "notifications",
           "notification-sender")


def serve_metrics(settings: Settings) -> None:
    """Processes without an HTTP API expose Prometheus metrics on their own port."""
    if settings.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.metrics_port)


async def until_stopped(*coroutines: Awaitable[Any]) -> None:
    """Run until a signal arrives or one of the loops ends (which is a failure)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    stopper = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
    for task in [*tasks, stopper]:
        task.cancel()
    await asyncio.gather(*tasks, stopper, return_exceptions=True)
    for task in done:
        if task is not stopper and (error := task.exception()) is not None:
            raise error
