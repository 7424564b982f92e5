"""Real-time notifications over WebSocket and Server-Sent Events."""

import asyncio
import json

import httpx
import websockets

from tests.conftest import SECRET, bearer
from tickerdesk.entrypoints.http.auth import issue_token


async def next_notification(ws, timeout=5.0) -> dict:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if message["type"] not in ("heartbeat", "connected"):
            return message


async def test_a_websocket_receives_the_users_notifications_in_order_exactly_once(trader, live_url):
    alice = await trader()
    bob = await trader()
    async with websockets.connect(f"ws://{live_url}/notifications/ws",
                                  additional_headers=bearer(alice.user_id)) as ws:
        assert json.loads(await ws.recv()) == {"type": "connected", "userId": alice.user_id}
        await bob.deposit(5)  # someone else's event must not arrive
        await alice.deposit(100)
        await alice.place(stockSymbol="KO", quantity=1, limitPrice=50)
        received = [await next_notification(ws) for _ in range(3)]
        assert [n["type"] for n in received] == ["balance.updated", "trade.placed", "balance.updated"]
        assert {n["userId"] for n in received} == {alice.user_id}
        seqs = [n["seq"] for n in received]
        assert seqs == sorted(seqs) and len(set(seqs)) == 3
        assert received[2]["data"]["availableBalance"] == 50


async def test_a_websocket_can_authenticate_with_its_first_message_and_resume(trader, live_url):
    alice = await trader(10)
    await alice.deposit(20)
    first = (await alice.get("/notifications"))["items"][0]
    async with websockets.connect(f"ws://{live_url}/notifications/ws?after={first['seq']}") as ws:
        await ws.send(json.dumps({"token": issue_token(SECRET, alice.user_id)}))
        assert json.loads(await ws.recv())["type"] == "connected"
        resumed = await next_notification(ws)
        assert resumed["data"]["availableBalance"] == 30  # the second deposit, not the first


async def test_a_websocket_without_a_valid_token_is_closed(live_url):
    async with websockets.connect(f"ws://{live_url}/notifications/ws") as ws:
        await ws.send(json.dumps({"token": "forged"}))
        try:
            await asyncio.wait_for(ws.recv(), 5)
        except websockets.ConnectionClosed as closed:
            assert closed.rcvd.code == 4401
        else:
            raise AssertionError("the connection stayed open")


async def test_idle_websockets_get_heartbeats(trader, live_url):
    alice = await trader()
    async with websockets.connect(f"ws://{live_url}/notifications/ws", additional_headers=alice.headers) as ws:
        await ws.recv()
        assert json.loads(await asyncio.wait_for(ws.recv(), 3)) == {"type": "heartbeat"}


async def read_events(response, count: int) -> list[dict]:
    events, current = [], {}
    async for line in response.aiter_lines():
        if line.startswith("id: "):
            current["id"] = int(line[4:])
        elif line.startswith("event: "):
            current["event"] = line[7:]
        elif line.startswith("data: "):
            current["data"] = json.loads(line[6:])
        elif line == "" and current:
            events.append(current)
            current = {}
            if len(events) == count:
                return events
    return events


async def test_server_sent_events_resume_from_last_event_id_without_gaps_or_repeats(trader, live_url):
    alice = await trader()
    async with httpx.AsyncClient(base_url=f"http://{live_url}", timeout=10) as client:
        async with client.stream("GET", "/notifications/stream", headers=alice.headers) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            await asyncio.sleep(0.2)
            await alice.deposit(1)
            await alice.deposit(2)
            first = await asyncio.wait_for(read_events(response, 1), 5)
        assert first[0]["event"] == "balance.updated"
        # the client drops; a deposit happens while it is away; it reconnects with Last-Event-ID
        await alice.deposit(4)
        headers = {**alice.headers, "Last-Event-ID": str(first[0]["id"])}
        async with client.stream("GET", "/notifications/stream", headers=headers) as response:
            resumed = await asyncio.wait_for(read_events(response, 2), 5)
    assert [e["data"]["data"]["availableBalance"] for e in resumed] == [3, 7]
    assert resumed[0]["id"] > first[0]["id"]


async def test_a_stream_needs_a_token(live_url):
    async with httpx.AsyncClient(base_url=f"http://{live_url}") as client:
        response = await client.get("/notifications/stream")
        assert response.status_code == 401
        response = await client.get("/notifications/stream", headers={**bearer("x"), "Last-Event-ID": "abc"})
        assert response.status_code == 400  # like any other malformed parameter
