"""An aiohttp session that only connects to public addresses (webhook deliveries).

Checking a URL's host before the request is not enough: a name can resolve to a
public address for the check and to 127.0.0.1 for the connection (DNS rebinding).
So the check sits where the connection is made. The resolver refuses a name if any
address it resolves to is refused (app/outbound_policy.py), and aiohttp connects only
to the addresses the resolver returned; the socket factory checks the address of
every socket it is asked for, which also covers URLs that name an IP address (aiohttp
does not resolve those). Redirects are never followed by the sender.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Collection
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from tickerdesk.app.outbound_policy import allowed_host, refusal


class RefusedDestination(OSError):
    """An address the outbound policy refuses: nothing was sent to it."""


class GuardedResolver(AbstractResolver):
    """The default resolver, refusing a name if any of its addresses is refused:
    a name with one private address among public ones is not trusted either."""

    def __init__(self) -> None:
        self._resolver = DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        results = await self._resolver.resolve(host, port, family)
        for result in results:
            reason = refusal(result["host"])
            if reason is not None:
                raise RefusedDestination(f"{host} resolves to {result['host']}; {reason}")
        return results

    async def close(self) -> None:
        await self._resolver.close()


def guarded_socket(addr_info: tuple[Any, ...]) -> socket.socket:
    """The socket for one address aiohttp is about to connect to, if the policy allows it."""
    family, type_, proto, _, sockaddr = addr_info
    reason = refusal(str(sockaddr[0]))
    if reason is not None:
        raise RefusedDestination(reason)
    return socket.socket(family=family, type=type_, proto=proto)


def guarded_session() -> aiohttp.ClientSession:
    """A session that never connects to a loopback, private, link-local or metadata address
    (nor through a proxy from the environment, which would hide the destination)."""
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(), socket_factory=guarded_socket)
    return aiohttp.ClientSession(connector=connector, trust_env=False)


class GuardedSessions:
    """The sessions of a sender to user-chosen URLs (webhooks, Web Push): a guarded one
    for every host, and a plain one for the hosts configured as allowed (a local receiver
    in tests). Made when first needed, remade if closed."""

    def __init__(self, allowed_hosts: Collection[str] = (),
                 session_factory: Callable[[], aiohttp.ClientSession] | None = None):
        self.allowed_hosts = tuple(allowed_hosts)
        self._session_factory = session_factory or guarded_session
        self._sessions: dict[bool, aiohttp.ClientSession] = {}  # allowed host? -> its session

    def for_url(self, url: str) -> aiohttp.ClientSession:
        allowed = allowed_host(urlsplit(url).hostname or "", self.allowed_hosts)
        session = self._sessions.get(allowed)
        if session is None or session.closed:
            session = aiohttp.ClientSession(trust_env=False) if allowed else self._session_factory()
            self._sessions[allowed] = session
        return session

    async def close(self) -> None:
        for session in self._sessions.values():
            if not session.closed:
                await session.close()
        self._sessions.clear()


def refused_destination(error: BaseException) -> RefusedDestination | None:
    """The guard's refusal inside an aiohttp connection error, if that is what it was."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, RefusedDestination):
            return seen
        os_error = getattr(seen, "os_error", None)
        if isinstance(os_error, RefusedDestination):
            return os_error
        seen = seen.__cause__
    return None
