"""The unsubscribe link of every notification email: a signed token (app/unsubscribe_links.py)
naming you and the event type, so it works without signing in.

GET shows a page with a button, and the button (or a mail client's one-click
unsubscribe, RFC 8058, which POSTs `List-Unsubscribe=One-Click`) turns that event
type's email off. GET changes nothing, so a mail scanner that follows links cannot
unsubscribe anyone."""

from __future__ import annotations

from html import escape
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from tickerdesk.app.notification_messages import DESCRIBED
from tickerdesk.app.notification_preferences import unsubscribe
from tickerdesk.app.unsubscribe_links import MAX_TOKEN, read_token
from tickerdesk.domain.errors import InvalidRequest
from tickerdesk.entrypoints.http.limits import client_rate_limited
from tickerdesk.entrypoints.http.refusals import RateLimited
from tickerdesk.entrypoints.http.responses import answers
from tickerdesk.entrypoints.http.routes.common import notifications_of

# Public (the link must work without a token), so limited per client address.
router = APIRouter(tags=["notifications"], dependencies=[Depends(client_rate_limited("public"))])
Token = Annotated[str, Query(min_length=1, max_length=MAX_TOKEN, description="the token of the email's link")]
HTML = {"text/html": {"schema": {"type": "string"}}}


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                        f"<meta name=\"viewport\" content=\"width=device-width\"><title>{escape(title)}</title></head>"
                        f"<body><h1>{escape(title)}</h1>{body}</body></html>")


@router.get("/notifications/unsubscribe", response_class=HTMLResponse,
            responses=answers(200, None, InvalidRequest, RateLimited, content=HTML))
async def confirm(request: Request, token: Token) -> HTMLResponse:
    """A page asking to confirm: stop emails about this event type."""
    found = read_token(notifications_of(request).secret, token)
    if found is None:
        raise InvalidRequest("token: this unsubscribe link is not valid (copy the whole link from the email)")
    about = DESCRIBED[found[1]]
    action = f"/notifications/unsubscribe?token={quote(token)}"
    return _page("Unsubscribe", f"<p>Stop emails about {escape(about)}? Other notifications stay as they are.</p>"
                                f"<form method=\"post\" action=\"{escape(action)}\"><button type=\"submit\">"
                                f"Stop these emails</button></form>")


@router.post("/notifications/unsubscribe", response_class=HTMLResponse,
             responses=answers(200, None, InvalidRequest, RateLimited, content=HTML))
async def confirmed(request: Request, token: Token) -> HTMLResponse:
    """Turn email about the token's event type off (also RFC 8058 one-click; the body is not read)."""
    notify = notifications_of(request)
    event_type = await unsubscribe(token, settings=notify.settings, secret=notify.secret)
    return _page("Unsubscribed", f"<p>You will get no more emails about {escape(DESCRIBED[event_type])}. Change "
                                 f"this any time in the app's notification settings.</p>")
