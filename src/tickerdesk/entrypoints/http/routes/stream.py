"""Real-time notifications: WebSocket and Server-Sent Events.

Both subscribe to the hub *before* reading the inbox backlog, then send the backlog
and the live notifications in `seq` order, skipping any `seq` already sent: a client
that resumes (`Last-Event-ID`, or `after` on the WebSocket) misses nothing and sees
nothing twice. Heartbeats keep idle connections open through proxies.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

from tickerdesk.app.ports import Notification
from tickerdesk.app.services import Services
from tickerdesk.codec import dumps, encode_notification, loads
from tickerdesk.entrypoints.http.auth import Principal, authenticate, bearer_token, current_user
from tickerdesk.entrypoints.http.inputs import MAX_BIGINT
from tickerdesk.entrypoints.http.refusals import RateLimited, Refusal
from tickerdesk.entrypoints.http.responses import answers
from tickerdesk.metrics import OPEN_STREAMS

router = APIRouter(tags=["notifications"])
BACKLOG_PAGE = 500


class Subscribed:
    """The stream's first item: from here on, nothing is missed."""


class Heartbeat:
    """Nothing happened for a heartbeat interval."""


StreamItem = Notification | type[Subscribed] | type[Heartbeat]


async def notification_stream(
    services: Services, user_id: str, after: int | None, heartbeat_seconds: float
) -> AsyncIterator[StreamItem]:
    """The user's notifications after `after` (None: only new ones), in order, exactly
    once, after `Subscribed`; `Heartbeat` when idle for `heartbeat_seconds`."""
    async with services.hub.subscribe(user_id) as live:
        yield Subscribed
        last = after
        if after is not None:
            while True:
                backlog = await services.inbox.after(user_id, after=last, limit=BACKLOG_PAGE)
                for item in backlog:
                    last = item.seq
                    yield item
                if len(backlog) < BACKLOG_PAGE:
                    break
        while True:
            try:
                item = await asyncio.wait_for(live.get(), heartbeat_seconds)
            except TimeoutError:
                yield Heartbeat
                continue
            if live.overflowed:
                return  # too far behind: the client reconnects and resumes from the inbox
            if last is None or item.seq > last:
                last = item.seq
                yield item


@router.get("/notifications/stream", response_class=StreamingResponse, responses=answers(
    200, None, content={"text/event-stream": {"schema": {"type": "string"}}},
    description="Server-Sent Events: each notification as `id: <seq>`, `event: <type>` and `data:` (a "
                "notification of GET /notifications); comments as heartbeats"))
async def stream(
    request: Request,
    user: Annotated[Principal, Depends(current_user)],
    after: Annotated[int | None, Query(ge=0, le=MAX_BIGINT)] = None,
    last_event_id: Annotated[int | None, Header(alias="Last-Event-ID", ge=0, le=MAX_BIGINT)] = None,
) -> StreamingResponse:
    """Server-Sent Events; reconnecting with `Last-Event-ID` resumes after that `seq`."""
    if last_event_id is not None:
        after = last_event_id
    services: Services = request.app.state.services
    heartbeat = request.app.state.settings.heartbeat_seconds

    async def events() -> AsyncIterator[bytes]:
        OPEN_STREAMS.labels("sse").inc()
        try:
            async for item in notification_stream(services, user.user_id, after, heartbeat):
                if item is Subscribed:
                    yield b"retry: 1000\n: connected\n\n"
                elif item is Heartbeat:
                    yield b": heartbeat\n\n"
                elif isinstance(item, Notification):
                    body = dumps(encode_notification(item))
                    yield f"id: {item.seq}\nevent: {item.event.type}\ndata: {body}\n\n".encode()
        finally:
            OPEN_STREAMS.labels("sse").dec()

    return StreamingResponse(events(), media_type="text/event-stream",  # user data: never stored
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.websocket("/notifications/ws")
async def websocket(socket: WebSocket, after: Annotated[int | None, Query(ge=0, le=MAX_BIGINT)] = None) -> None:
    """Authenticate with the Authorization header, or with `{"token": "..."}` as the
    first message; `?after=<seq>` resumes. Messages are notifications (with `seq`) and
    `{"type": "heartbeat"}`."""
    await socket.accept()
    services: Services = socket.app.state.services
    heartbeat = socket.app.state.settings.heartbeat_seconds
    try:
        principal = await _authenticate(socket)
    except RateLimited:  # too many failed authentications from this address
        await socket.close(code=4429, reason="rate_limited")
        return
    except (Refusal, ValueError, WebSocketDisconnect, TimeoutError):
        await socket.close(code=4401, reason="unauthenticated")
        return
    OPEN_STREAMS.labels("websocket").inc()
    try:
        async for item in notification_stream(services, principal.user_id, after, heartbeat):
            message: dict[str, Any]
            if item is Subscribed:
                message = {"type": "connected", "userId": principal.user_id}
            elif isinstance(item, Notification):
                message = encode_notification(item)
            else:
                message = {"type": "heartbeat"}
            await socket.send_text(dumps(message))
    except WebSocketDisconnect:
        pass
    finally:
        OPEN_STREAMS.labels("websocket").dec()


async def _authenticate(socket: WebSocket) -> Principal:
    header = socket.headers.get("authorization")
    if header:
        return await authenticate(socket, lambda: bearer_token(header))
    first = loads(await asyncio.wait_for(socket.receive_text(), 10))
    if not isinstance(first, dict) or not isinstance(first.get("token"), str):
        raise ValueError("the first message must be {\"token\": \"...\"}")
    token: str = first["token"]
    return await authenticate(socket, lambda: token)
