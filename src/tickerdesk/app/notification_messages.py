"""What a notification says, on each channel: pure text from events.

One `Message` per event, or per group of fills of one order (a group's message tells
the order as it is after the last fill, and lists every fill). Email gets it as plain
text and HTML with an unsubscribe link; push as a small JSON payload the service
worker shows; SMS as one short line. No message carries a secret: no token, no
account detail beyond the order or balance it is about (SMS not even the balance).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape

from tickerdesk.app.ports import OutgoingEmail
from tickerdesk.domain.events import (
    BalanceUpdated,
    Event,
    EventType,
    TradeEvent,
    TradeExecuted,
    TradeFilled,
)
from tickerdesk.domain.money import plain
from tickerdesk.domain.orders import Order, Side

PRODUCT = "tickerdesk"
SMS_LIMIT = 160  # one GSM-7 segment
TOPIC_LIMIT = 32  # RFC 8030 Topic: at most 32 base64url characters

# What a person is told an event type is, in a preference list or an unsubscribe page.
DESCRIBED: dict[EventType, str] = {
    EventType.TRADE_PLACED: "orders placed",
    EventType.TRADE_EXECUTED: "orders filled",
    EventType.TRADE_PARTIALLY_EXECUTED: "partial fills",
    EventType.TRADE_CANCELED: "orders canceled",
    EventType.TRADE_EXPIRED: "orders expired",
    EventType.TRADE_REJECTED: "orders rejected",
    EventType.BALANCE_UPDATED: "balance changes",
}


@dataclass(frozen=True)
class Message:
    title: str  # the subject, the push title, the SMS text
    lines: tuple[str, ...]  # the details (email and push body)
    tag: str  # push: a newer message with the same tag replaces the older one
    event_type: EventType  # of the last event: the unsubscribe link turns this type off
    private_details: bool = False  # the lines hold amounts an SMS must not carry


def money(value: Decimal | None) -> str:
    """189.5 -> 189.50; 0.1234 -> 0.1234; 12345 -> 12,345.00 (exact: no rounding)."""
    if value is None:
        return "-"
    text = f"{plain(value):,f}"
    whole, _, cents = text.partition(".")
    return f"{whole}.{cents.ljust(2, '0')}"


def _order(order: Order) -> str:
    verb = "buy" if order.side is Side.BUY else "sell"
    return f"{verb} {order.quantity} {order.symbol}"


def _done(order: Order) -> str:
    return "bought" if order.side is Side.BUY else "sold"


def _fills_summary(order: Order) -> str:
    if not order.filled_quantity:
        return "nothing filled"
    return f"{order.filled_quantity} of {order.quantity} filled at an average of {money(order.average_fill_price)}"


def render(events: Sequence[Event]) -> Message:
    """The message about `events`: one event, or fills of one order (oldest first)."""
    last = events[-1]
    if isinstance(last, BalanceUpdated):
        balance = last.balance
        return Message("Your balance changed",
                       (f"Available: {money(balance.available)}", f"Held for orders: {money(balance.held)}",
                        f"Total: {money(balance.total)}"),
                       "balance", last.type, private_details=True)
    assert isinstance(last, TradeEvent), f"no message for {last.type}"
    order = last.order
    tag = f"order-{order.trade_id}"
    fills = [e for e in events if isinstance(e, TradeFilled)]
    if fills:
        done = isinstance(last, TradeExecuted)
        title = (f"Order filled: {_done(order)} {order.filled_quantity} {order.symbol} at "
                 f"{money(order.average_fill_price)}" if done else
                 f"Order partly filled: {_done(order)} {order.filled_quantity} of {order.quantity} {order.symbol}")
        lines = [f"{'Fill' if len(fills) == 1 else f'{len(fills)} fills'} of your order to {_order(order)}:"]
        lines += [f"  {f.last_quantity} at {money(f.last_price)}" for f in fills]
        lines.append(_fills_summary(order) + ("." if done else f"; {order.remaining_quantity} still open."))
        return Message(title, tuple(lines), tag, last.type)
    limit = f" at {money(order.limit_price)}" if order.limit_price is not None else " at market"
    if last.type is EventType.TRADE_PLACED:
        return Message(f"Order placed: {_order(order)}{limit}", (f"Your order to {_order(order)}{limit} is open.",),
                       tag, last.type)
    if last.type is EventType.TRADE_REJECTED:
        reason = order.reject_reason or "refused by the venue"
        return Message(f"Order rejected: {_order(order)}", (f"Your order to {_order(order)} was rejected: {reason}.",),
                       tag, last.type)
    ended = "canceled" if last.type is EventType.TRADE_CANCELED else "expired"
    return Message(f"Order {ended}: {_order(order)}",
                   (f"Your order to {_order(order)}{limit} was {ended}; {_fills_summary(order)}.",), tag, last.type)


def compose_email(message: Message, to: str, *, app_url: str, unsubscribe_url: str | None) -> OutgoingEmail:
    """A plain-text and an HTML part saying the same, with the unsubscribe link in both."""
    about = DESCRIBED[message.event_type]
    footer = [f"Open {PRODUCT}: {app_url}"]
    if unsubscribe_url:
        footer.append(f"Stop emails about {about}: {unsubscribe_url}")
    text = "\n".join([message.title, "", *message.lines, "", "--", *footer]) + "\n"
    items = "".join(f"<p>{escape(line.strip())}</p>" for line in message.lines)
    links = f'<a href="{escape(app_url)}">Open {PRODUCT}</a>'
    if unsubscribe_url:
        links += f' &middot; <a href="{escape(unsubscribe_url)}">Stop emails about {escape(about)}</a>'
    html = ("<!doctype html><html><body style=\"font-family:sans-serif\">"
            f"<h1 style=\"font-size:18px\">{escape(message.title)}</h1>{items}"
            f"<hr><p style=\"font-size:12px;color:#555\">{links}</p></body></html>")
    return OutgoingEmail(to=to, subject=f"{PRODUCT}: {message.title}", text=text, html=html,
                         unsubscribe_url=unsubscribe_url)


def push_payload(message: Message, event: Event, *, app_url: str) -> bytes:
    """What the service worker receives and shows (see entrypoints/web/static/sw.js)."""
    body = "\n".join(line.strip() for line in message.lines)
    return json.dumps({"title": message.title, "body": body, "tag": message.tag, "url": app_url,
                       "type": str(event.type), "eventId": event.id}, separators=(",", ":")).encode()


def push_topic(message: Message) -> str | None:
    """RFC 8030 Topic: a push service replaces an undelivered message of the same order."""
    topic = message.tag.removeprefix("order-").replace("-", "")
    return topic[:TOPIC_LIMIT] if topic.isalnum() else None


def sms_text(message: Message) -> str:
    """One short line: the title, never the amounts of a balance."""
    text = f"{PRODUCT}: {message.title}"
    if message.private_details:
        text += ". Open the app for details."
    return text if len(text) <= SMS_LIMIT else text[:SMS_LIMIT - 1] + "…"


# -- verification codes --------------------------------------------------------------------


def code_email(to: str, code: str, minutes: int) -> OutgoingEmail:
    text = (f"Your {PRODUCT} verification code is {code}.\n\nIt expires in {minutes} minutes. If you did not ask "
            f"for it, ignore this email: nothing will be sent to this address.\n")
    html = (f"<!doctype html><html><body style=\"font-family:sans-serif\"><p>Your {PRODUCT} verification code is</p>"
            f"<p style=\"font-size:24px;letter-spacing:4px\"><b>{escape(code)}</b></p>"
            f"<p>It expires in {minutes} minutes. If you did not ask for it, ignore this email: nothing will be sent "
            f"to this address.</p></body></html>")
    return OutgoingEmail(to=to, subject=f"{PRODUCT} verification code", text=text, html=html)


def code_sms(code: str, minutes: int) -> str:
    return f"{PRODUCT} code: {code}. It expires in {minutes} min. Do not share it."
