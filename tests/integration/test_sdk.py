"""The Python SDK (clients/python) and the CLI verbs on it, against a real uvicorn
serving the session's app: typed exact results, every page, refusals as the right
exception, placements retried under one key, the stream resumed without gaps or repeats."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from tickerdesk_client import (
    AsyncClient,
    Client,
    IdempotencyConflict,
    InsufficientFunds,
    InsufficientShares,
    InvalidRequest,
    NotCancelable,
    NotFound,
    RateLimited,
    Unauthenticated,
)

from tests.conftest import SECRET, set_price
from tickerdesk.adapters.memory.rate_limit import MemoryRateLimiter
from tickerdesk.app.rate_limits import RateLimit
from tickerdesk.entrypoints.http.app import create_app
from tickerdesk.entrypoints.http.auth import issue_token

D = Decimal
README = Path(__file__).parents[2] / "clients" / "python" / "README.md"


def token(user_id: str) -> str:
    return issue_token(SECRET, user_id)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """An ASGI app on a real uvicorn on a free port, for as long as the block runs."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
def url(live_url: str) -> str:
    return f"http://{live_url}"


async def test_balance_portfolio_and_stocks_are_typed_with_exact_decimals(url, trader, symbol, client, runtime):
    alice = await trader("1000.25")
    stock = await symbol("10.1")
    async with AsyncClient(url, token(alice.user_id)) as sdk:
        bought = await sdk.place_order(stock, 3, "buy")  # a market buy: fills at once at 10.1
        await runtime.settle()
        assert (await sdk.get_trade(bought.trade_id)).status == "executed"
        balance = await sdk.balance()
        assert (balance.available, balance.held, balance.total) == (D("969.95"), D(0), D("969.95"))
        assert all(type(v) is Decimal for v in (balance.available, balance.held, balance.total))
        holding = next(h for h in (await sdk.portfolio()).holdings if h.symbol == stock)
        assert (holding.quantity, holding.average_price, holding.market_value) == (3, D("10.1"), D("30.3"))
        assert type(holding.quantity) is int and type(holding.average_price) is Decimal
        listed = {s.symbol: s for s in await sdk.stocks()}
        assert listed[stock].last_price == D("10.1") and type(listed[stock].last_price) is Decimal


async def test_a_limit_order_rests_is_found_and_canceled_and_a_market_order_fills(url, trader, symbol, runtime):
    alice = await trader(5000)
    stock = await symbol("100")
    async with AsyncClient(url, token(alice.user_id)) as sdk:
        resting = await sdk.place_order(stock, 10, "buy", limit_price=D("99.5"), time_in_force="gtc")
        assert (resting.status, resting.order_type, resting.limit_price, resting.hold_price) == (
            "pending", "limit", D("99.5"), D("99.5"))
        assert (await sdk.balance()).held == D("995")
        await runtime.settle()
        found = await sdk.get_trade(resting.trade_id)
        assert found.trade_id == resting.trade_id and found.executions == ()
        assert (await sdk.cancel_order(resting.trade_id)).cancel_requested
        await runtime.settle()
        assert (await sdk.get_trade(resting.trade_id)).status == "canceled"
        with pytest.raises(NotCancelable) as twice:
            await sdk.cancel_order(resting.trade_id)
        assert (twice.value.status, twice.value.code) == (409, "not_cancelable")

        filled = await sdk.place_order(stock, 2, "buy")
        await runtime.settle()
        done = await sdk.get_trade(filled.trade_id)
        assert (done.status, done.filled_quantity, done.average_fill_price) == ("executed", 2, D("100"))
        assert done.executions and done.executions[0].price == D("100")


async def test_trades_and_history_iterate_over_every_page(url, trader, symbol, runtime):
    alice = await trader(100_000)
    stock = await symbol("10")
    async with AsyncClient(url, token(alice.user_id)) as sdk:
        placed = [(await sdk.place_order(stock, 1, "buy", limit_price="9")).trade_id for _ in range(105)]
        await runtime.settle()
        listed = [t.trade_id async for t in sdk.trades(symbol=stock)]
        assert listed == placed[::-1]  # newest first, across two pages of 100
        assert [t async for t in sdk.trades(status="executed")] == []
    with Client(url, token(alice.user_id)) as blocking:
        assert [t.trade_id for t in await asyncio.to_thread(lambda: list(blocking.trades()))] == placed[::-1]
    async with AsyncClient(url, token(alice.user_id)) as sdk:
        for trade_id in placed[:3]:
            await sdk.cancel_order(trade_id)
        await runtime.settle()
        assert {t.trade_id async for t in sdk.history(symbol=stock, status="canceled")} == set(placed[:3])


async def test_refusals_raise_the_subclass_of_their_code_with_status_and_detail(url, trader, symbol):
    alice = await trader(100)
    stock = await symbol("50")
    async with AsyncClient(url, token(alice.user_id)) as sdk:
        with pytest.raises(InsufficientFunds) as funds:
            await sdk.place_order(stock, 3, "buy", limit_price="50")
        assert (funds.value.status, funds.value.code, funds.value.detail) == (
            422, "insufficient_funds", "150 is needed and 100 is available")
        with pytest.raises(InsufficientShares) as shares:
            await sdk.place_order(stock, 1, "sell")
        assert shares.value.code == "insufficient_shares" and "are free to sell" in shares.value.detail
        with pytest.raises(NotFound) as missing:
            await sdk.get_trade("0190a000-0000-7000-8000-000000000000")
        assert missing.value.status == 404
        with pytest.raises(InvalidRequest) as band:
            await sdk.place_order(stock, 1, "buy", limit_price="501")
        assert band.value.code == "price_out_of_band"
        with pytest.raises(IdempotencyConflict):
            await sdk.place_order(stock, 1, "buy", limit_price="40", client_order_id="mine-1")
            await sdk.place_order(stock, 1, "buy", limit_price="41", client_order_id="mine-1")
        preview = await sdk.preview_order(stock, 3, "buy", limit_price="50")
        assert not preview.ok and isinstance(preview.error, InsufficientFunds)
        assert (preview.hold_amount, preview.available) == (D("150"), D("60"))  # 40 held by mine-1
    async with AsyncClient(url, "not-a-token") as stranger:
        with pytest.raises(Unauthenticated) as who:
            await stranger.balance()
        assert (who.value.status, who.value.code) == (401, "unauthenticated")


async def test_place_order_retries_a_lost_answer_under_the_same_key_and_places_once(url, trader, symbol, runtime):
    """A proxy forwards the first placement to the server, then answers 503 as if the
    answer were lost: the retry must carry the same Idempotency-Key and get the same trade."""
    alice = await trader(1000)
    stock = await symbol("20")
    keys: list[str] = []
    upstream = httpx.AsyncClient(base_url=url)

    async def lossy(scope: dict, receive: Callable[[], Awaitable[dict]], send: Callable[[dict], Awaitable[None]]):
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"] if k.lower() != b"host"}
        answer = await upstream.request(scope["method"], scope["path"], content=body, headers=headers)
        if scope["path"] == "/trade/place":
            keys.append(headers["idempotency-key"])
            if len(keys) == 1:
                await send({"type": "http.response.start", "status": 503, "headers": []})
                await send({"type": "http.response.body", "body": b""})
                return
        await send({"type": "http.response.start", "status": answer.status_code,
                    "headers": [(b"content-type", answer.headers["content-type"].encode())]})
        await send({"type": "http.response.body", "body": answer.content})

    async with serve(lossy) as proxy, AsyncClient(proxy, token(alice.user_id)) as sdk:
        trade = await sdk.place_order(stock, 2, "buy", limit_price="19")
    await upstream.aclose()
    assert len(keys) == 2 and keys[0] == keys[1]
    await runtime.settle()
    trades = (await alice.get("/trades", stockSymbol=stock))["items"]
    assert [t["tradeId"] for t in trades] == [trade.trade_id]
    assert await alice.balance() == (D("962"), D("38"))


async def test_a_rate_limited_placement_carries_retry_after_and_is_retried_after_it(trader, symbol, settings, runtime):
    alice = await trader(1000)
    stock = await symbol("10")
    services = replace(runtime.services, limiter=MemoryRateLimiter(),
                       limits={**runtime.services.limits, "place": RateLimit(rate=2, burst=1)})
    async with serve(create_app(settings, services=services)) as strict:
        async with AsyncClient(strict, token(alice.user_id), retries=0) as impatient:
            await impatient.place_order(stock, 1, "buy", limit_price="9")
            with pytest.raises(RateLimited) as limited:
                await impatient.place_order(stock, 1, "buy", limit_price="9")
            assert (limited.value.status, limited.value.code) == (429, "rate_limited")
            assert 0 < limited.value.retry_after <= 1
        async with AsyncClient(strict, token(alice.user_id)) as patient:
            await patient.place_order(stock, 1, "buy", limit_price="9")
            await patient.place_order(stock, 1, "buy", limit_price="9")  # waits Retry-After, then places
    await runtime.settle()
    assert len((await alice.get("/trades", stockSymbol=stock))["items"]) == 3


@asynccontextmanager
async def cutting_proxy(target: str) -> AsyncIterator[tuple[str, list[int]]]:
    """A TCP proxy that drops every connection right after the server sent it one event
    (what the server sent before the event, the HTTP head and the stream's hello, passes)."""
    host, port = target.rsplit(":", 1)
    cuts: list[int] = []

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(host, int(port))

        async def upstream() -> None:
            while data := await client_r.read(65536):
                server_w.write(data)
                await server_w.drain()

        pump = asyncio.create_task(upstream())
        buffer = b""
        try:
            while data := await server_r.read(65536):
                buffer += data
                event = re.search(rb"(^|\n)id: [^\n]*\n(.*?)\n\n", buffer, re.S)
                if event is None:
                    continue
                client_w.write(buffer[:event.end()])  # the first event and what came before it, no more
                await client_w.drain()
                cuts.append(1)
                break
        finally:
            pump.cancel()
            for writer in (client_w, server_w):
                writer.close()

    proxy = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{proxy.sockets[0].getsockname()[1]}", cuts
    finally:
        proxy.close()


async def test_notifications_resume_after_every_drop_without_gaps_or_repeats(live_url, trader, symbol, runtime):
    alice = await trader(1000)
    stock = await symbol("10")
    seen: list[int] = []
    async with cutting_proxy(live_url) as (proxy, cuts), AsyncClient(proxy, token(alice.user_id)) as sdk:

        async def follow() -> None:
            async for note in sdk.notifications(after=0):
                seen.append(note.seq)

        task = asyncio.create_task(follow())
        for _ in range(4):
            await alice.place(stockSymbol=stock, limitPrice="9", quantity=1)
        inbox = [n["seq"] for n in (await alice.get("/notifications"))["items"]]
        for _ in range(200):
            if len(seen) >= len(inbox):
                break
            await asyncio.sleep(0.05)
        task.cancel()
    assert len(inbox) >= 9  # the deposit's balance, then a placement and a balance for each order
    assert seen == inbox  # every one, once, in order
    assert len(cuts) >= len(inbox)  # the connection was dropped after each


async def test_the_blocking_client_follows_the_stream_from_now(url, trader, symbol):
    alice = await trader(1000)
    stock = await symbol("10")
    await alice.place(stockSymbol=stock, limitPrice="9")  # before: not streamed

    def two() -> list[str]:
        with Client(url, token(alice.user_id)) as sdk:
            notes = sdk.notifications()
            return [next(notes).type, next(notes).type]

    follower = asyncio.create_task(asyncio.to_thread(two))
    await asyncio.sleep(0.5)  # subscribed by then
    await alice.place(stockSymbol=stock, limitPrice="8")
    assert sorted(await asyncio.wait_for(follower, 10)) == ["balance.updated", "trade.placed"]


@dataclass
class Ran:
    exit_code: int
    output: str


async def cli(*args: str, env: dict[str, str] | None = None) -> Ran:
    """`tickerdesk ARGS` as a person runs it: a process of its own, stdout and stderr together."""
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "tickerdesk"), *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, env={**os.environ, "COLUMNS": "160", **(env or {})})
    out, _ = await asyncio.wait_for(process.communicate(), 30)
    return Ran(process.returncode or 0, out.decode())


async def test_the_cli_verbs_trade_and_show_tables(url, trader, symbol, runtime, client):
    alice = await trader(1000)
    stock = await symbol("10")
    common = ("--url", url, "--token", token(alice.user_id))
    placed = await cli("place", "buy", stock, "5", "--limit", "9.5", "--tif", "gtc", *common)
    assert placed.exit_code == 0, placed.output
    trade_id = re.search(r"[0-9a-f]{8}-[0-9a-f-]{27}", placed.output).group(0)
    await runtime.settle()
    balance = await cli("balance", *common)
    assert balance.exit_code == 0 and "952.5" in balance.output and "47.5" in balance.output
    orders = await cli("orders", *common)
    assert trade_id in orders.output and "pending" in orders.output
    assert (await cli("cancel", trade_id, *common)).exit_code == 0
    await runtime.settle()
    assert trade_id not in (await cli("orders", *common)).output
    assert trade_id in (await cli("history", "--symbol", stock, *common)).output

    await cli("place", "BUY", stock, "2", *common)
    await runtime.settle()
    await set_price(client, stock, "12")
    portfolio = await cli("portfolio", *common)
    assert portfolio.exit_code == 0 and stock in portfolio.output and "24" in portfolio.output

    watched = await cli("watch", "--after", "0", "--count", "3", *common)
    assert watched.exit_code == 0 and "balance.updated" in watched.output and "trade.placed" in watched.output

    refused = await cli("place", "buy", stock, "1000", "--limit", "10", *common)
    assert refused.exit_code == 1
    assert refused.output.strip().splitlines() == ["tickerdesk: 10000 is needed and 980 is available"]  # 1000 - 2 x 10


async def test_the_cli_reads_url_and_token_from_the_environment(url, trader):
    alice = await trader(7)
    shown = await cli("balance", env={"TICKERDESK_URL": url, "TICKERDESK_TOKEN": token(alice.user_id)})
    assert shown.exit_code == 0 and "│         7 │    0 │     7 │" in shown.output
    refused = await cli("balance", env={"TICKERDESK_URL": url, "TICKERDESK_TOKEN": "nonsense"})
    assert refused.exit_code == 1 and len(refused.output.splitlines()) == 1
    assert refused.output.startswith("tickerdesk: ")


async def test_the_readme_example_runs_as_written(url, trader):
    alice = await trader(100_000)
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    assert len(code.strip().splitlines()) == 5
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "TICKERDESK_URL": url, "TICKERDESK_TOKEN": token(alice.user_id)})
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    first, now, available = out.decode().split()
    assert first == "pending" and now in ("pending", "executed") and D(available) < 100_000
