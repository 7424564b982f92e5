"""The simulator's controls between the processes of `tickerdesk up --workers N`, over
PostgreSQL LISTEN/NOTIFY.

A worker that serves `PUT /sim/stocks/{symbol}` or `POST /sim/session/close` sends the
command to the core, which owns the simulated venue, and waits for its answer, so the
route answers once the venue has acted (its fills applied), as in one process. The core
runs the commands one at a time in the order they arrive.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import structlog

from tickerdesk.adapters.postgres.listen import PgListener
from tickerdesk.app.ports import SimulatorControl
from tickerdesk.codec import dumps, loads

log = structlog.get_logger(__name__)

COMMANDS = "tickerdesk_sim"
ANSWERS = "tickerdesk_sim_done"


async def _send(pool: asyncpg.Pool, channel: str, message: dict[str, Any]) -> None:
    await pool.execute("SELECT pg_notify($1, $2)", channel, dumps(message))


class PgSimControl:
    """The worker's side: each command is a call answered by the core."""

    def __init__(self, pool: asyncpg.Pool, listener: PgListener, timeout: float = 15.0):
        self._pool = pool
        self._listener = listener
        self._timeout = timeout
        self._waiting: dict[str, asyncio.Future[None]] = {}
        self._listening = False

    async def set_price(self, symbol: str, price: Decimal, liquidity: int | None = None) -> None:
        await self._call({"command": "set_price", "symbol": symbol, "price": price, "liquidity": liquidity})

    async def close_session(self, at: datetime) -> None:
        await self._call({"command": "close_session", "at": at.isoformat()})

    async def _call(self, message: dict[str, Any]) -> None:
        if not self._listening:  # before sending: the answer must not come before we listen
            await self._listener.listen(ANSWERS, self._answered)
            self._listening = True
        call_id = uuid.uuid4().hex
        answer = self._waiting[call_id] = asyncio.get_running_loop().create_future()
        try:
            await _send(self._pool, COMMANDS, {**message, "id": call_id})
            await asyncio.wait_for(answer, self._timeout)
        finally:
            self._waiting.pop(call_id, None)

    def _answered(self, payload: str) -> None:
        message = loads(payload)
        answer = self._waiting.get(message["id"])
        if answer is None or answer.done():
            return  # another worker's call
        if message.get("error"):
            answer.set_exception(RuntimeError(f"the simulated venue failed: {message['error']}"))
        else:
            answer.set_result(None)


class PgSimCommands:
    """The core's side: runs each command on the venue, then answers. `before` runs first:
    the core flushes its outbox, so that the venue has every order accepted before the
    command was sent (a price set right after a placement meets the order, as in one
    process)."""

    def __init__(self, pool: asyncpg.Pool, venue: SimulatorControl,
                 before: Callable[[], Awaitable[None]] | None = None):
        self._pool = pool
        self._venue = venue
        self._before = before
        self._arrived: asyncio.Queue[str] = asyncio.Queue()

    async def listen(self, listener: PgListener) -> None:
        await listener.listen(COMMANDS, self._arrived.put_nowait)

    async def run(self) -> None:
        while True:
            payload = await self._arrived.get()
            call_id, error = None, None
            try:
                message = loads(payload)
                call_id = message["id"]
                if self._before is not None:
                    await self._before()
                if message["command"] == "set_price":
                    await self._venue.set_price(message["symbol"], Decimal(message["price"]), message["liquidity"])
                elif message["command"] == "close_session":
                    await self._venue.close_session(datetime.fromisoformat(message["at"]))
                else:
                    error = f"unknown command {message['command']!r}"
            except asyncio.CancelledError:
                raise
            except Exception as failure:
                log.exception("simulator command failed")
                error = str(failure) or type(failure).__name__
            if call_id is not None:
                try:
                    await _send(self._pool, ANSWERS, {"id": call_id, "error": error})
                except Exception:
                    log.exception("simulator answer not sent", call_id=call_id)
