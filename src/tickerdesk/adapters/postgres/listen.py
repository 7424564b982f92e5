"""One connection that LISTENs, for the processes of `tickerdesk up --workers N`.

Each process keeps one such connection however many channels it follows (the outbox,
the notification hub, the simulator's commands and answers). PostgreSQL delivers
notifications in commit order; each channel's callback gets each payload in that order,
on the event loop. If the connection drops, it is made again and every channel listened
to again; `on_gap` callbacks are told when it drops and again when it is back, since
what was sent in between is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import asyncpg
import structlog

from tickerdesk.adapters.postgres.db import asyncpg_dsn

log = structlog.get_logger(__name__)


class PgListener:
    def __init__(self, url: str):
        self._dsn = asyncpg_dsn(url)
        self._connection: asyncpg.Connection | None = None
        self._channels: dict[str, Callable[[str], None]] = {}
        self._reconnecting: asyncio.Task[None] | None = None
        self._closed = False
        self.on_gap: list[Callable[[], None]] = []

    @classmethod
    async def connect(cls, url: str) -> PgListener:
        listener = cls(url)
        await listener._connect()
        return listener

    async def _connect(self) -> None:
        connection = await asyncpg.connect(self._dsn)
        for channel in self._channels:
            await connection.add_listener(channel, self._dispatch)
        connection.add_termination_listener(self._lost)
        self._connection = connection

    async def listen(self, channel: str, callback: Callable[[str], None]) -> None:
        """Call `callback` with each payload sent on `channel` from now on (LISTEN has
        taken effect when this returns)."""
        self._channels[channel] = callback
        if self._connection is not None and not self._connection.is_closed():
            await self._connection.add_listener(channel, self._dispatch)

    def _dispatch(self, _connection: object, _pid: int, channel: str, payload: str) -> None:
        callback = self._channels.get(channel)
        if callback is None:
            return
        try:
            callback(payload)
        except Exception:
            log.exception("a notification handler failed", channel=channel)

    def _lost(self, _connection: object) -> None:
        if not self._closed and self._reconnecting is None:
            self._reconnecting = asyncio.get_running_loop().create_task(self._reconnect(), name="pg-listener")
            self._tell_gap()

    def _tell_gap(self) -> None:
        for callback in self.on_gap:
            try:
                callback()
            except Exception:
                log.exception("a handler of lost notifications failed")

    async def _reconnect(self) -> None:
        delay = 0.1
        while not self._closed:
            try:
                await self._connect()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("listening connection lost; retrying", error=str(error))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            self._reconnecting = None
            self._tell_gap()
            return

    async def close(self) -> None:
        self._closed = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
            await asyncio.gather(self._reconnecting, return_exceptions=True)
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close(timeout=5)
