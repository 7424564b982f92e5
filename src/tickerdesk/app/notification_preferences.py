"""Which event types reach a user by which channel: read, change, and the one-click
unsubscribe of an email link."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tickerdesk.app.ports import NotificationSettings
from tickerdesk.app.unsubscribe_links import read_token
from tickerdesk.domain.errors import InvalidRequest
from tickerdesk.domain.events import EventType
from tickerdesk.domain.notifications import NOTIFIABLE, Channel, ContactKind, Preferences, QuietHours

KEEP = object()  # quiet hours as they were


async def preferences_view(user_id: str, *, settings: NotificationSettings) -> dict[str, Any]:
    preferences = await settings.preferences(user_id)
    contacts = await settings.contacts(user_id)
    quiet = preferences.quiet_hours

    def contact(kind: ContactKind) -> dict[str, Any] | None:
        if kind not in contacts:
            return None
        address, verified = contacts[kind]
        return {"address": address, "verified": verified}

    return {
        "channels": {str(t): sorted(str(c) for c in preferences.of(t)) for t in NOTIFIABLE},
        "contacts": {"email": contact(ContactKind.EMAIL), "phone": contact(ContactKind.PHONE)},
        "pushSubscriptions": len(await settings.push_subscriptions(user_id)),
        "quietHours": None if quiet is None else {"start": quiet.start.strftime("%H:%M"),
                                                  "end": quiet.end.strftime("%H:%M"), "timeZone": quiet.time_zone},
    }


async def change_preferences(
    user_id: str,
    channels: Mapping[EventType, Iterable[Channel]],
    quiet_hours: QuietHours | object | None = KEEP,
    *,
    settings: NotificationSettings,
) -> dict[str, Any]:
    """Set the channels of the types named (the others keep theirs) and, if given, the quiet hours."""
    current = await settings.preferences(user_id)
    changed = current.with_channels(channels)
    if quiet_hours is not KEEP:
        assert quiet_hours is None or isinstance(quiet_hours, QuietHours)
        changed = Preferences(changed.channels, quiet_hours)
    await settings.save_preferences(user_id, changed)
    return await preferences_view(user_id, settings=settings)


async def unsubscribe(token: str, *, settings: NotificationSettings, secret: str) -> EventType:
    """Turn off email for the user and event type the token names; the type."""
    found = read_token(secret, token)
    if found is None:
        raise InvalidRequest("token: this unsubscribe link is not valid (copy the whole link from the email)")
    user_id, event_type = found
    current = await settings.preferences(user_id)
    if Channel.EMAIL in current.of(event_type):
        await settings.save_preferences(user_id, current.without(event_type, Channel.EMAIL))
    return event_type
