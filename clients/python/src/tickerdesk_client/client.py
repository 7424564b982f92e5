"""`Client` (blocking) and `AsyncClient`: the same methods, over httpx.

Placements are safe to retry: each `place_order` call sends an `Idempotency-Key` of its
own and reuses it for every retry (timeouts, lost connections, 5xx, 429), so the server
places the order at most once. `notifications()` follows the Server-Sent Events stream
and resumes after a drop from the last `seq` it yielded, so nothing is missed or repeated.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx

from tickerdesk_client.errors import RateLimited, ServerError, TickerdeskError, error_from
from tickerdesk_client.models import Balance, Notification, Portfolio, Preview, Stock, Trade, loads

PAGE = 100
INBOX_PAGE = 500
RETRYABLE = (httpx.TransportError,)  # timeouts and lost connections included


def order_body(symbol: str, quantity: int, side: str, order_type: str, limit_price: Decimal | str | None,
               time_in_force: str, client_order_id: str | None) -> bytes:
    """The placement's JSON, money written exactly (a Decimal as a JSON number, not a float)."""
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise TypeError("quantity must be an int")
    if limit_price is not None and order_type == "market":
        order_type = "limit"
    parts = [f'"stockSymbol": {_string(symbol.upper())}', f'"quantity": {quantity}',
             f'"tradeType": {_string(side.lower())}', f'"orderType": {_string(order_type)}',
             f'"timeInForce": {_string(time_in_force)}']
    if limit_price is not None:
        price = Decimal(limit_price)
        if not price.is_finite():
            raise ValueError("limit_price must be a finite amount")
        parts.append(f'"limitPrice": {price:f}')
    if client_order_id is not None:
        parts.append(f'"clientOrderId": {_string(client_order_id)}')
    return ("{" + ", ".join(parts) + "}").encode()


def _string(value: str) -> str:
    import json

    return json.dumps(value)


def _body(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            problem = loads(response.text)
        except ValueError:
            problem = {}
        if not isinstance(problem, dict):
            problem = {}
        raise error_from(response.status_code, problem, response.headers.get("Retry-After"))
    return loads(response.text) if response.content else None


def _backoff(attempt: int) -> float:
    return min(0.2 * 2.0**attempt, 5.0)


def _retry_wait(error: Exception, attempt: int, max_wait: float) -> float | None:
    """Seconds to wait before retrying a placement after `error`, or None: give up."""
    if isinstance(error, RateLimited):
        return min(max(error.retry_after, 0.0), max_wait)
    if isinstance(error, (ServerError, *RETRYABLE)):
        return _backoff(attempt)
    return None


def _history_params(symbol: str | None, status: str | None, since: datetime | str | None,
                    until: datetime | str | None) -> dict[str, str]:
    params = {"stockSymbol": symbol, "status": status,
              "from": since.isoformat() if isinstance(since, datetime) else since,
              "to": until.isoformat() if isinstance(until, datetime) else until}
    return {k: v for k, v in params.items() if v is not None}


class _SSE:
    """Server-Sent Events, line by line: yields (id, data) of each event with data."""

    def __init__(self) -> None:
        self.id: str | None = None
        self.data: list[str] = []

    def feed(self, line: str) -> tuple[str | None, str] | None:
        if not line:
            event = (self.id, "\n".join(self.data)) if self.data else None
            self.id, self.data = None, []
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            self.data.append(value)
        elif name == "id":
            self.id = value
        return None


class _Base:
    def __init__(self, base_url: str, token: str, timeout: float = 10.0, *, retries: int = 4,
                 max_retry_wait: float = 30.0, stream_timeout: float = 60.0) -> None:
        if "://" not in base_url:
            base_url = "http://" + base_url
        self.base_url, self.timeout = base_url.rstrip("/"), timeout
        self.retries, self.max_retry_wait, self.stream_timeout = retries, max_retry_wait, stream_timeout
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json",
                        "User-Agent": "tickerdesk-client/0.1"}

    def _stream_timeout(self) -> httpx.Timeout:
        # The server sends a heartbeat while idle: a read that waits longer is a dead connection.
        return httpx.Timeout(self.timeout, read=self.stream_timeout)


class Client(_Base):
    """The blocking client. `with Client(url, token) as c: c.balance()`."""

    def __init__(self, base_url: str, token: str, timeout: float = 10.0, **options: Any) -> None:
        super().__init__(base_url, token, timeout, **options)
        self._http = httpx.Client(base_url=self.base_url, headers=self.headers, timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return _body(self._http.request(method, path, **kwargs))

    def balance(self) -> Balance:
        return Balance.parse(self._call("GET", "/balance"))

    def portfolio(self) -> Portfolio:
        return Portfolio.parse(self._call("GET", "/portfolio"))

    def stocks(self) -> list[Stock]:
        return [Stock.parse(s) for s in self._call("GET", "/stocks")["items"]]

    def get_trade(self, trade_id: str) -> Trade:
        return Trade.parse(self._call("GET", f"/trade/{trade_id}"))

    def cancel_order(self, trade_id: str) -> Trade:
        return Trade.parse(self._call("POST", f"/trade/{trade_id}/cancel"))

    def preview_order(self, symbol: str, quantity: int, side: str, order_type: str = "market",
                      limit_price: Decimal | str | None = None, time_in_force: str = "day") -> Preview:
        body = order_body(symbol, quantity, side, order_type, limit_price, time_in_force, None)
        return Preview.parse(self._call("POST", "/trade/preview", content=body,
                                        headers={"Content-Type": "application/json"}))

    def place_order(self, symbol: str, quantity: int, side: str, order_type: str = "market",
                    limit_price: Decimal | str | None = None, time_in_force: str = "day",
                    client_order_id: str | None = None) -> Trade:
        body = order_body(symbol, quantity, side, order_type, limit_price, time_in_force, client_order_id)
        headers = {"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())}
        attempt = 0
        while True:
            try:
                return Trade.parse(self._call("POST", "/trade/place", content=body, headers=headers))
            except (TickerdeskError, *RETRYABLE) as error:
                wait = _retry_wait(error, attempt, self.max_retry_wait)
                if wait is None or attempt >= self.retries:
                    raise
            attempt += 1
            time.sleep(wait)

    def _pages(self, path: str, params: dict[str, str], parse: Any) -> Iterator[Any]:
        cursor: str | None = None
        while True:
            page = self._call("GET", path, params={**params, "limit": PAGE, **({"cursor": cursor} if cursor else {})})
            yield from (parse(item) for item in page["items"])
            cursor = page["nextCursor"]
            if not cursor:
                return

    def trades(self, status: str | None = None, symbol: str | None = None) -> Iterator[Trade]:
        """Every order, newest first, across all pages."""
        params = {k: v for k, v in {"status": status, "stockSymbol": symbol}.items() if v}
        return self._pages("/trades", params, Trade.parse)

    def history(self, symbol: str | None = None, status: str | None = None, since: datetime | str | None = None,
                until: datetime | str | None = None) -> Iterator[Trade]:
        """Executed, canceled, expired and rejected trades, newest first, across all pages."""
        return self._pages("/transaction-history", _history_params(symbol, status, since, until), Trade.parse)

    def _latest_seq(self) -> int:
        after = 0
        while True:
            page = self._call("GET", "/notifications", params={"after": after, "limit": INBOX_PAGE})
            after = page["next"] or after
            if len(page["items"]) < INBOX_PAGE:
                return after

    def notifications(self, after: int | None = None) -> Iterator[Notification]:
        """The live stream, forever: the notifications after `after` (a `seq`; None: from
        now on), each once and in order, reconnecting after a drop from the last one seen."""
        last, attempt = after, 0
        while True:
            headers = {"Accept": "text/event-stream"}
            if last is not None:
                headers["Last-Event-ID"] = str(last)
            try:
                with self._http.stream("GET", "/notifications/stream", headers=headers,
                                       timeout=self._stream_timeout()) as response:
                    if response.status_code != 200:
                        response.read()
                        _body(response)
                    parser = _SSE()
                    for line in response.iter_lines():
                        if last is None and line.startswith(": connected"):
                            last = self._latest_seq()  # subscribed first, so what follows is new
                        event = parser.feed(line)
                        if event is None:
                            continue
                        note = Notification.parse(loads(event[1]))
                        attempt = 0
                        if last is not None and note.seq <= last:
                            continue
                        last = note.seq
                        yield note
            except (ServerError, *RETRYABLE):
                pass
            time.sleep(_backoff(attempt))
            attempt = min(attempt + 1, 5)


class AsyncClient(_Base):
    """The asyncio client: the same methods, awaited; `trades`, `history` and
    `notifications` are async iterators."""

    def __init__(self, base_url: str, token: str, timeout: float = 10.0, **options: Any) -> None:
        super().__init__(base_url, token, timeout, **options)
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=self.headers, timeout=timeout)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return _body(await self._http.request(method, path, **kwargs))

    async def balance(self) -> Balance:
        return Balance.parse(await self._call("GET", "/balance"))

    async def portfolio(self) -> Portfolio:
        return Portfolio.parse(await self._call("GET", "/portfolio"))

    async def stocks(self) -> list[Stock]:
        return [Stock.parse(s) for s in (await self._call("GET", "/stocks"))["items"]]

    async def get_trade(self, trade_id: str) -> Trade:
        return Trade.parse(await self._call("GET", f"/trade/{trade_id}"))

    async def cancel_order(self, trade_id: str) -> Trade:
        return Trade.parse(await self._call("POST", f"/trade/{trade_id}/cancel"))

    async def preview_order(self, symbol: str, quantity: int, side: str, order_type: str = "market",
                            limit_price: Decimal | str | None = None, time_in_force: str = "day") -> Preview:
        body = order_body(symbol, quantity, side, order_type, limit_price, time_in_force, None)
        return Preview.parse(await self._call("POST", "/trade/preview", content=body,
                                              headers={"Content-Type": "application/json"}))

    async def place_order(self, symbol: str, quantity: int, side: str, order_type: str = "market",
                          limit_price: Decimal | str | None = None, time_in_force: str = "day",
                          client_order_id: str | None = None) -> Trade:
        body = order_body(symbol, quantity, side, order_type, limit_price, time_in_force, client_order_id)
        headers = {"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())}
        attempt = 0
        while True:
            try:
                return Trade.parse(await self._call("POST", "/trade/place", content=body, headers=headers))
            except (TickerdeskError, *RETRYABLE) as error:
                wait = _retry_wait(error, attempt, self.max_retry_wait)
                if wait is None or attempt >= self.retries:
                    raise
            attempt += 1
            await asyncio.sleep(wait)

    async def _pages(self, path: str, params: dict[str, str]) -> AsyncIterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            page = await self._call("GET", path, params={**params, "limit": PAGE,
                                                         **({"cursor": cursor} if cursor else {})})
            for item in page["items"]:
                yield item
            cursor = page["nextCursor"]
            if not cursor:
                return

    async def trades(self, status: str | None = None, symbol: str | None = None) -> AsyncIterator[Trade]:
        params = {k: v for k, v in {"status": status, "stockSymbol": symbol}.items() if v}
        async for item in self._pages("/trades", params):
            yield Trade.parse(item)

    async def history(self, symbol: str | None = None, status: str | None = None,
                      since: datetime | str | None = None,
                      until: datetime | str | None = None) -> AsyncIterator[Trade]:
        async for item in self._pages("/transaction-history", _history_params(symbol, status, since, until)):
            yield Trade.parse(item)

    async def _latest_seq(self) -> int:
        after = 0
        while True:
            page = await self._call("GET", "/notifications", params={"after": after, "limit": INBOX_PAGE})
            after = page["next"] or after
            if len(page["items"]) < INBOX_PAGE:
                return after

    async def notifications(self, after: int | None = None) -> AsyncIterator[Notification]:
        last, attempt = after, 0
        while True:
            headers = {"Accept": "text/event-stream"}
            if last is not None:
                headers["Last-Event-ID"] = str(last)
            try:
                async with self._http.stream("GET", "/notifications/stream", headers=headers,
                                             timeout=self._stream_timeout()) as response:
                    if response.status_code != 200:
                        await response.aread()
                        _body(response)
                    parser = _SSE()
                    async for line in response.aiter_lines():
                        if last is None and line.startswith(": connected"):
                            last = await self._latest_seq()
                        event = parser.feed(line)
                        if event is None:
                            continue
                        note = Notification.parse(loads(event[1]))
                        attempt = 0
                        if last is not None and note.seq <= last:
                            continue
                        last = note.seq
                        yield note
            except (ServerError, *RETRYABLE):
                pass
            await asyncio.sleep(_backoff(attempt))
            attempt = min(attempt + 1, 5)


