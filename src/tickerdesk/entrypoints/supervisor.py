"""`tickerdesk up --workers N`: one core process and N HTTP workers on one port.

This process is the core: it opens what `open_core` composes (the venue, the relay and
the consumers), then spawns the workers, each serving the application `make_app` builds
on a listening socket made here. On Linux each worker has a socket of its own bound with
SO_REUSEPORT, so the kernel spreads connections evenly; elsewhere they share one.

SIGINT (Ctrl-C reaches every process of the group) or SIGTERM (to this one) stops
everything in order: the workers finish their requests and exit, then the core closes,
then `on_stopped` runs (the embedded PostgreSQL stops last). A worker that dies stops
everything, with exit code 1, rather than leave a port that answers partly. A worker
whose parent has gone (killed outright) stops itself.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from multiprocessing import resource_tracker
from multiprocessing.process import BaseProcess
from typing import Any, Protocol

import structlog

from tickerdesk.entrypoints import collector, processes
from tickerdesk.logs import configure
from tickerdesk.metrics import UP_WORKER

log = structlog.get_logger(__name__)

GRACE_SECONDS = 5  # for a worker's open requests and streams once asked to stop


class Core(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...


def listening_sockets(host: str, port: int, workers: int) -> list[socket.socket]:
    """One socket per worker (SO_REUSEPORT, Linux), else one socket for all of them."""
    own = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")
    made: list[socket.socket] = []
    try:
        for _ in range(workers if own else 1):
            sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
            made.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if own:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            sock.listen(2048)
    except BaseException:
        for sock in made:
            sock.close()
        raise
    return made if own else made * workers


def serve(*, host: str, port: int, workers: int, open_core: Callable[[], Awaitable[tuple[Core, Any]]],
          make_app: Callable[[Any], Any], log_level: str, log_json: bool,
          on_stopped: Callable[[], None] | None = None) -> int:
    """Run until stopped; the exit code. `open_core` returns the core and the plan each
    worker's `make_app(plan)` is given (pickled to it, with its socket)."""
    try:
        sockets = listening_sockets(host, port, workers)
        try:
            return processes.run(_supervise(sockets, open_core, make_app, (log_level, log_json)))
        finally:
            for sock in set(sockets):
                sock.close()
            # multiprocessing's resource tracker (a process of ours since the shared memory
            # was made) would otherwise outlive us for a moment, and be nobody's to reap.
            stop_tracker = getattr(resource_tracker._resource_tracker, "_stop", None)
            if stop_tracker is not None:
                stop_tracker()
    finally:
        if on_stopped is not None:
            on_stopped()


async def _supervise(sockets: list[socket.socket], open_core: Callable[[], Awaitable[tuple[Core, Any]]],
                     make_app: Callable[[Any], Any], logs: tuple[str, bool]) -> int:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    core, plan = await open_core()
    children: list[BaseProcess] = []
    ended = asyncio.Event()
    try:
        await core.start()
        collector.settle_after_start()
        spawn = multiprocessing.get_context("spawn")
        for index, sock in enumerate(sockets, 1):
            if stopping.is_set():
                return 0
            child: BaseProcess = spawn.Process(target=_worker, name=f"tickerdesk-worker-{index}",
                                  args=(make_app, plan, sock, index, os.getpid(), logs))
            child.start()
            children.append(child)
            loop.add_reader(child.sentinel, ended.set)
        waits = [asyncio.ensure_future(stopping.wait()), asyncio.ensure_future(ended.wait())]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for waiting in waits:
            waiting.cancel()
        if stopping.is_set():
            return 0
        ready = multiprocessing.connection.wait([child.sentinel for child in children], timeout=1)
        for child in children:
            if child.sentinel in ready:
                child.join(1)  # its pipe closes a moment before it can be reaped
                log.error("a worker stopped unexpectedly: stopping tickerdesk", worker=child.name,
                          exit_code=child.exitcode)
        return 1
    finally:
        for child in children:
            loop.remove_reader(child.sentinel)
        await _stop(children)
        await core.close()


async def _stop(children: list[BaseProcess]) -> None:
    """SIGTERM, time to finish, then SIGKILL for any that did not."""
    for child in children:
        if child.is_alive():
            child.terminate()
    deadline = time.monotonic() + GRACE_SECONDS + 10
    while any(child.is_alive() for child in children) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    for child in children:
        if child.is_alive():
            log.error("a worker did not stop: killed", worker=child.name)
            child.kill()
        child.join(5)


def _worker(make_app: Callable[[Any], Any], plan: Any, sock: socket.socket, index: int, parent: int,
            logs: tuple[str, bool]) -> None:
    """A worker process: the application on its socket, until SIGTERM or SIGINT."""
    import uvicorn

    configure(*logs)
    UP_WORKER.labels(str(index)).set(1)
    threading.Thread(target=_stop_with, args=(parent,), name="parent-watch", daemon=True).start()
    app = make_app(plan)

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            # End the notification streams first: uvicorn would wait for them to close
            # (their clients resume from the inbox on another worker, or after a restart).
            services = getattr(app.state, "services", None)
            if services is not None:
                await services.hub.close()
            await super().shutdown(sockets)

    config = uvicorn.Config(app, log_level="warning", access_log=False, server_header=False,
                            timeout_graceful_shutdown=GRACE_SECONDS)
    Server(config).run(sockets=[sock])


def _stop_with(parent: int) -> None:
    """Stop this worker when its parent is gone (killed, so it could not stop it)."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)
