"""The bench's own client for what is set up, probed and watched, not measured: funding
users, seeding positions and orders to cancel, moving a price, and WebSocket
listeners that time notifications. Only the public API (so `--target` works too).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import aiohttp

from tickerdesk.codec import dumps, loads
from tickerdesk.entrypoints.bench.server import BenchError, Refused
from tickerdesk.entrypoints.http.auth import issue_token


class Api:
    def __init__(self, session: aiohttp.ClientSession, secret: str, in_flight: int = 64):
        self.session = session
        self.secret = secret
        self.admin = issue_token(secret, "bench-ops", admin=True)
        self._tokens: dict[str, str] = {}
        self._in_flight = asyncio.Semaphore(in_flight)

    def token(self, user: str) -> str:
        if user not in self._tokens:
            self._tokens[user] = issue_token(self.secret, user)
        return self._tokens[user]

    async def call(self, method: str, path: str, *, token: str | None = None, body: Any = None,
                   expect: Iterable[int] = (200, 201, 202)) -> Any:
        """One request, retried after a 429 (setup is not measured; limits still hold)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if body is not None:
            headers["Content-Type"] = "application/json"
        data = dumps(body) if body is not None else None
        for _ in range(100):
            try:
                async with self._in_flight, self.session.request(method, path, headers=headers,
                                                                 data=data) as response:
                    status, text = response.status, await response.text()
                    retry_after = float(response.headers.get("Retry-After", "1"))
            except (aiohttp.ClientError, TimeoutError) as error:
                raise BenchError(f"{method} {path} failed: {error!r}") from None
            if status == 429:
                await asyncio.sleep(retry_after)
                continue
            if status not in expect:
                raise Refused(f"{method} {path} answered {status}: {text[:300]}", status)
            return loads(text) if text else None
        raise BenchError(f"{method} {path} stayed rate limited")

    async def prices(self) -> dict[str, Decimal]:
        stocks = await self.call("GET", "/stocks")
        return {s["symbol"]: Decimal(str(s["lastPrice"])) for s in stocks["items"]
                if s.get("active", True) and s.get("lastPrice") is not None}

    async def fund(self, users: Iterable[str], amount: int) -> None:
        await asyncio.gather(*(self.call("POST", "/admin/deposits", token=self.admin,
                                         body={"userId": user, "amount": amount}) for user in users))

    async def place(self, user: str, order: dict[str, Any]) -> dict[str, Any]:
        trade: dict[str, Any] = await self.call("POST", "/trade/place", token=self.token(user), body=order,
                                                expect=(201,))
        return trade

    async def set_price(self, symbol: str, price: Decimal) -> None:
        await self.call("PUT", f"/sim/stocks/{symbol}", token=self.admin, body={"price": price})

    async def holdings(self, user: str) -> dict[str, int]:
        portfolio = await self.call("GET", "/portfolio", token=self.token(user))
        return {h["stockSymbol"]: int(h["quantity"]) for h in portfolio["holdings"]}


class Listener:
    """WebSockets at /notifications/ws for some users: when each trade.placed and
    trade.executed arrived (CLOCK_MONOTONIC), and which trades of each symbol. A stream
    the server ends (a subscriber too far behind is closed by design) is resumed after
    the last `seq` seen, as any client would; `reconnects` counts those."""

    def __init__(self, api: Api, base_url: str):
        self.api = api
        self.url = base_url.replace("http", "ws", 1) + "/notifications/ws"
        self.placed_at: dict[str, float] = {}  # trade id -> first arrival
        self.executed_at: dict[str, float] = {}
        self.trades: dict[tuple[str, str], set[str]] = defaultdict(set)  # (type, symbol) -> trade ids
        self.reconnects = 0
        self._followers: list[asyncio.Task[None]] = []

    async def connect(self, users: Iterable[str]) -> None:
        """Follow each user's stream; returns once every one is subscribed."""
        for user in users:
            connected: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._followers.append(asyncio.create_task(self._follow(user, connected)))
            await connected

    async def _open(self, user: str, after: int | None) -> aiohttp.ClientWebSocketResponse:
        socket = await self.api.session.ws_connect(self.url + ("" if after is None else f"?after={after}"),
                                                   heartbeat=None)
        await socket.send_str(dumps({"token": self.api.token(user)}))
        first = loads((await socket.receive(timeout=10)).data)
        if not isinstance(first, dict) or first.get("type") != "connected":
            await socket.close()
            raise BenchError(f"the notification WebSocket refused {user}: {first}")
        return socket

    async def _follow(self, user: str, connected: asyncio.Future[None]) -> None:
        last: int | None = None
        while True:
            try:
                socket = await self._open(user, last)
            except (aiohttp.ClientError, TimeoutError, ValueError, BenchError) as error:
                if not connected.done():
                    connected.set_exception(BenchError(f"the notification WebSocket for {user} failed: {error!r}"))
                    return
                await asyncio.sleep(0.1)  # the server is busy or restarting: try again
                continue
            if not connected.done():
                connected.set_result(None)
            try:
                async for message in socket:
                    if message.type != aiohttp.WSMsgType.TEXT:
                        break
                    event = loads(message.data)
                    if isinstance(event.get("seq"), int | Decimal):
                        last = int(event["seq"])
                    self._record(event, time.monotonic())
            except aiohttp.ClientError:
                pass
            finally:
                await socket.close()
            self.reconnects += 1

    def _record(self, event: dict[str, Any], now: float) -> None:
        kind, data = event.get("type"), event.get("data") or {}
        if kind == "trade.placed":
            self.placed_at.setdefault(data["tradeId"], now)
        elif kind == "trade.executed":
            self.executed_at.setdefault(data["tradeId"], now)
        if kind in ("trade.placed", "trade.executed"):
            self.trades[kind, data.get("stockSymbol", "")].add(data["tradeId"])

    def count(self, kind: str, symbol: str) -> int:
        return len(self.trades[kind, symbol])

    async def until(self, condition: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.005)
        return True

    async def close(self) -> None:
        for follower in self._followers:
            follower.cancel()
        await asyncio.gather(*self._followers, return_exceptions=True)
