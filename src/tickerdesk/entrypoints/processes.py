"""What every long-running process shares: running until a signal, and a metrics port
for the processes that have no HTTP API of their own."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from tickerdesk.config import Settings

T = TypeVar("T")

WORKERS = ("venue-gateway", "executions", "notifier", "history", "webhooks", "webhook-sender", "notifications",
           "notification-sender")


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # uvicorn[standard] brings it, except where it does not build (Windows)
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` on uvloop where it is installed, as uvicorn runs the HTTP workers:
    the relay, consumers and venue spend much of their time in the event loop itself,
    which uvloop runs in C."""
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(main)


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
