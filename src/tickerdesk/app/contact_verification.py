"""Contacts: an email address or phone number is proven by a code sent over its own
channel before anything else is sent to it.

The code is six random digits; only its HMAC (keyed with the notification secret, over
the user, the kind of contact, the address and the code) is stored, so a copy of the
database does not reveal pending codes. A code expires after ten minutes and allows
five attempts; a new one can be asked for 30 seconds after the last (an address cannot
be flooded, nor an SMS bill run up). Setting an address replaces the user's previous
contact of that kind, which is no longer used from that moment.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import datetime

from tickerdesk.app.notification_messages import code_email, code_sms
from tickerdesk.app.ports import Clock, DeliveryFailed, EmailChannel, NotificationSettings, SmsChannel
from tickerdesk.domain.errors import ChannelUnavailable, CodeRecentlySent, ContactRefused, InvalidCode
from tickerdesk.domain.notifications import (
    CODE_DIGITS,
    CODE_LIFETIME,
    CODE_MAX_ATTEMPTS,
    CODE_RESEND_AFTER,
    ContactKind,
    checked_address,
)


def random_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def code_hash(secret: str, user_id: str, kind: ContactKind, address: str, code: str) -> str:
    message = "\n".join((user_id, str(kind), address, code)).encode()
    return hmac.new(secret.encode(), b"tickerdesk contact code v1\n" + message, hashlib.sha256).hexdigest()


async def send_code(
    user_id: str,
    kind: ContactKind,
    address: str,
    *,
    settings: NotificationSettings,
    email: EmailChannel,
    sms: SmsChannel,
    secret: str,
    clock: Clock,
    new_code: Callable[[], str] = random_code,
) -> tuple[str, datetime]:
    """Make `address` the user's unverified contact of this kind and send it a code;
    the address as stored, and when the code expires."""
    address = checked_address(kind, address)
    code, now = new_code(), clock.now()
    expires_at = now + CODE_LIFETIME
    wait_until = await settings.new_code(user_id, kind, address, code_hash(secret, user_id, kind, address, code),
                                         now=now, expires_at=expires_at, resend_after=CODE_RESEND_AFTER)
    if wait_until is not None:
        seconds = max(1, int((wait_until - now).total_seconds()) + 1)
        raise CodeRecentlySent(f"a code was sent to {address} moments ago; ask for a new one in {seconds} s")
    minutes = int(CODE_LIFETIME.total_seconds() // 60)
    try:
        if kind is ContactKind.EMAIL:
            await email.send(code_email(address, code, minutes))
        else:
            await sms.send(address, code_sms(code, minutes))
    except DeliveryFailed as failure:
        if failure.permanent:
            raise ContactRefused(f"the code could not be sent to {address}: {failure.reason}") from None
        raise ChannelUnavailable(f"the code could not be sent now ({failure.reason}); try again in a minute") from None
    return address, expires_at


async def verify_code(
    user_id: str,
    kind: ContactKind,
    code: str,
    *,
    settings: NotificationSettings,
    secret: str,
    clock: Clock,
) -> str:
    """Confirm the pending code; the address now verified. InvalidCode otherwise."""
    pending = await settings.take_attempt(user_id, kind, CODE_MAX_ATTEMPTS)
    if pending is None:
        raise InvalidCode(f"no {kind} verification is pending, or its attempts are used up: ask for a new code")
    now = clock.now()
    if now >= pending.expires_at:
        raise InvalidCode("the code has expired: ask for a new one")
    expected = code_hash(secret, user_id, kind, pending.address, code.strip())
    if not hmac.compare_digest(expected, pending.code_hash):
        left = CODE_MAX_ATTEMPTS - pending.attempts
        raise InvalidCode(f"the code is not right; {left} attempt{'s' if left != 1 else ''} left" if left else
                          "the code is not right, and that was the last attempt: ask for a new code")
    if not await settings.mark_verified(user_id, kind, pending.code_hash, now):
        raise InvalidCode("a newer code was sent meanwhile: use that one")
    return pending.address
