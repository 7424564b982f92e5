"""The far ends of the notification channels, real and local, for the tests:

- `SmtpSink`: an SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it
  accepts, or answers each RCPT with a chosen failure;
- `PushService`: an HTTP push service that checks each message's VAPID JWT (ES256,
  `aud`, `exp`, `sub`) and keeps its body, answering a chosen status;
- `Browser`: a push subscription's keys (a P-256 pair and an auth secret), which
  decrypts a message (RFC 8291, with http_ece) as a browser would;
- `SmsProvider`: an HTTP API with Twilio's message-create request, keeping each form.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import http_ece
import jwt
from aiohttp import web
from aiosmtpd.controller import Controller
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SmtpSink:
    """aiosmtpd runs its own event loop in a thread; the handler only appends."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse_with: str | None = None  # e.g. "451 4.3.0 try again later"
        with socket.socket() as probe:  # the controller checks it is up by connecting: it needs the port first
            probe.bind(("127.0.0.1", 0))
            free = probe.getsockname()[1]
        self.controller = Controller(self, hostname="127.0.0.1", port=free)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        if self.refuse_with:
            return self.refuse_with
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted"

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    @property
    def port(self) -> int:
        return int(self.controller.port)

    def stop(self) -> None:
        self.controller.stop()

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


@dataclass
class Browser:
    """A browser's push subscription keys."""

    private_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    def subscription(self, endpoint: str) -> dict[str, Any]:
        point = self.private_key.public_key().public_bytes(serialization.Encoding.X962,
                                                           serialization.PublicFormat.UncompressedPoint)
        keys = {"p256dh": b64url(point), "auth": b64url(self.auth)}
        return {"endpoint": endpoint, "expirationTime": None, "keys": keys}

    def decrypt(self, body: bytes) -> bytes:
        return bytes(http_ece.decrypt(body, private_key=self.private_key, auth_secret=self.auth, version="aes128gcm"))


@dataclass
class PushMessage:
    path: str
    headers: dict[str, str]
    body: bytes
    claims: dict[str, Any]
    vapid_key: str  # the `k` of the Authorization header


class PushService:
    def __init__(self) -> None:
        self.messages: list[PushMessage] = []
        self.status = 201
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.messages.append(self.checked(request, body))
        return web.Response(status=self.status)

    def checked(self, request: web.Request, body: bytes) -> PushMessage:
        """RFC 8292: `vapid t=<JWT>,k=<key>`; the JWT is ES256-signed by `k`'s pair, for this origin, not expired."""
        scheme, _, params = request.headers["Authorization"].partition(" ")
        assert scheme == "vapid", request.headers["Authorization"]
        parts = dict(p.strip().split("=", 1) for p in params.split(","))
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(parts["k"]))
        claims = jwt.decode(parts["t"], key=key, algorithms=["ES256"], audience=self.url)  # our origin
        assert time.time() < claims["exp"] <= time.time() + 24 * 3600, claims
        assert claims["sub"].startswith(("mailto:", "https:")), claims
        assert request.headers["Content-Encoding"] == "aes128gcm"
        assert int(request.headers["TTL"]) > 0
        return PushMessage(request.path, dict(request.headers), body, claims, parts["k"])

    async def start(self) -> PushService:
        app = web.Application()
        app.router.add_post("/push/{token}", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    def endpoint(self, token: str) -> str:
        return f"{self.url}/push/{token}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@dataclass
class SmsRequest:
    path: str
    authorization: str
    form: dict[str, str]


class SmsProvider:
    def __init__(self) -> None:
        self.requests: list[SmsRequest] = []
        self.status = 201
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.requests.append(SmsRequest(request.path, request.headers.get("Authorization", ""),
                                        {k: str(v) for k, v in form.items()}))
        if self.status >= 300:
            return web.json_response({"code": 21211, "message": "invalid 'To' number"}, status=self.status)
        return web.json_response({"sid": f"SM{len(self.requests):032d}", "status": "queued"}, status=self.status)

    async def start(self) -> SmsProvider:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    def to(self, number: str) -> list[SmsRequest]:
        return [r for r in self.requests if r.form.get("To") == number]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def eventually(check: Any, timeout: float = 15.0, interval: float = 0.1) -> Any:
    """Poll `check` (sync or async) until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {check}")
        await asyncio.sleep(interval)
