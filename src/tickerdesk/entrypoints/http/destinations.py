"""URLs a user chooses for us to call (webhooks, Web Push endpoints): checked at the edge
when registered. The sender checks again at every delivery after its own resolution
(adapters/outbound_guard.py): a name can change what it points to."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable
from urllib.parse import SplitResult, urlsplit

from tickerdesk.app.outbound_policy import allowed_host, refusal

RESOLVE_SECONDS = 3.0


def url_parts(value: str) -> SplitResult:
    """The parts of a URL with no whitespace or control characters and a valid port;
    ValueError (a field error) otherwise. Scheme and host rules are the caller's."""
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError("must not contain whitespace or control characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ValueError("must be a valid URL") from None
    return parts


async def inside_network(url: str, allowed_hosts: Iterable[str]) -> str | None:
    """Why the URL's host is, or now resolves to, an address inside the network; None if it
    is not, is an allowed host, or does not resolve now (the early, clear answer only: a
    name that does not resolve is left to the sender's guard rather than guessed about)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if allowed_host(host, allowed_hosts):
        return None
    try:
        infos = await asyncio.wait_for(
            asyncio.get_running_loop().getaddrinfo(host, parts.port, type=socket.SOCK_STREAM), RESOLVE_SECONDS)
    except (OSError, UnicodeError, ValueError, TimeoutError):  # no such name (yet), or not a name at all
        return None
    for *_, address in infos:
        reason = refusal(str(address[0]))
        if reason is not None:
            named = "" if host == address[0] else f"{host} resolves to {address[0]}; "
            return f"{named}{reason}"
    return None
