"""Notifications as pure rules: who is told what where, quiet hours, addresses, the
words of each channel, and unsubscribe tokens."""

from __future__ import annotations

from datetime import UTC, datetime, time
from decimal import Decimal

import pytest

from tests.unit.factories import T0, make_order
from tickerdesk.app.notification_messages import compose_email, money, push_topic, render, sms_text
from tickerdesk.app.unsubscribe_links import make_token, read_token, unsubscribe_url
from tickerdesk.domain.accounting import Balance
from tickerdesk.domain.errors import InvalidRequest
from tickerdesk.domain.events import (
    BalanceUpdated,
    EventType,
    PortfolioUpdated,
    TradeExecuted,
    TradePartiallyExecuted,
    TradePlaced,
    TradeRejected,
)
from tickerdesk.domain.notifications import (
    DEFAULT_CHANNELS,
    Channel,
    ContactKind,
    Preferences,
    QuietHours,
    Targets,
    checked_address,
    plan_deliveries,
)
from tickerdesk.domain.orders import Status


def filled(quantity: int = 10, last: int = 10, price: str = "100", *, done: bool = True):
    order = make_order(quantity=quantity, status=Status.EXECUTED if done else Status.PARTIALLY_EXECUTED,
                       filled_quantity=quantity if done else last, filled_value=Decimal(price) * (quantity if done
                                                                                                 else last))
    cls = TradeExecuted if done else TradePartiallyExecuted
    return cls(user_id="user-1", occurred_at=T0, order=order, last_quantity=last, last_price=Decimal(price))


def everywhere(**preferences) -> Targets:
    return Targets(Preferences(**preferences), email="ada@example.com", phone="+14155550123",
                   push_subscriptions=("sub-1", "sub-2"))


def test_by_default_a_fill_goes_by_email_and_to_every_browser_but_not_by_sms():
    planned = plan_deliveries(filled(), everywhere(), T0)
    assert [(p.channel, p.target, p.recipient) for p in planned] == [
        (Channel.EMAIL, "", "ada@example.com"), (Channel.PUSH, "sub-1", "sub-1"), (Channel.PUSH, "sub-2", "sub-2")]
    assert planned[0].group_key == "fills:trade-1" and planned[1].group_key is None  # push replaces by tag instead


def test_by_default_placements_and_balance_changes_go_nowhere_and_portfolio_changes_are_not_offered():
    placed = TradePlaced(user_id="user-1", occurred_at=T0, order=make_order())
    balance = BalanceUpdated(user_id="user-1", occurred_at=T0, balance=Balance(Decimal(5), Decimal(0)))
    from tickerdesk.domain.accounting import Position
    portfolio = PortfolioUpdated(user_id="user-1", occurred_at=T0, position=Position("AAPL"))
    assert [plan_deliveries(e, everywhere(), T0) for e in (placed, balance, portfolio)] == [[], [], []]
    assert DEFAULT_CHANNELS[EventType.TRADE_CANCELED] == {Channel.EMAIL, Channel.PUSH}


def test_sms_once_chosen_and_only_with_a_verified_number():
    chosen = Preferences().with_channels({EventType.TRADE_EXECUTED: [Channel.SMS]})
    assert [p.channel for p in plan_deliveries(filled(), everywhere(), T0)].count(Channel.SMS) == 0
    assert [p.channel for p in plan_deliveries(filled(), Targets(chosen, phone="+14155550123"), T0)] == [Channel.SMS]
    assert plan_deliveries(filled(), Targets(chosen), T0) == []  # no verified number: nothing


def test_unknown_types_cannot_be_chosen_and_unsubscribing_removes_one_channel():
    with pytest.raises(InvalidRequest):
        Preferences().with_channels({EventType.PORTFOLIO_UPDATED: [Channel.EMAIL]})
    off = Preferences().without(EventType.TRADE_EXECUTED, Channel.EMAIL)
    assert off.of(EventType.TRADE_EXECUTED) == {Channel.PUSH}
    assert off.of(EventType.TRADE_CANCELED) == {Channel.PUSH, Channel.EMAIL}


@pytest.mark.parametrize(("start", "end", "at", "resumes"), [
    ("22:00", "07:00", "23:30", "2024-05-02T07:00:00+02:00"),  # spans midnight, before it
    ("22:00", "07:00", "03:00", "2024-05-01T07:00:00+02:00"),  # after midnight
    ("22:00", "07:00", "12:00", None),
    ("09:00", "17:00", "16:59", "2024-05-01T17:00:00+02:00"),
    ("09:00", "17:00", "17:00", None),
])
def test_quiet_hours_hold_push_and_sms_until_they_end_in_the_users_time_zone(start, end, at, resumes):
    quiet = QuietHours(time.fromisoformat(start), time.fromisoformat(end), "Europe/Paris")
    local = datetime.fromisoformat(f"2024-05-01T{at}:00+02:00")
    ends = quiet.ends_after(local.astimezone(UTC))
    assert (ends.isoformat() if ends else None) == resumes
    if resumes:
        planned = plan_deliveries(filled(), everywhere(quiet_hours=quiet), local.astimezone(UTC))
        assert {p.channel: p.not_before for p in planned}[Channel.EMAIL] is None
        assert {p.channel: p.not_before for p in planned}[Channel.PUSH] == ends


def test_quiet_hours_need_a_real_time_zone_and_two_different_times():
    for zone in ("Mars/Olympus", "", "../etc", "America"):
        with pytest.raises(InvalidRequest):
            QuietHours(time(22), time(7), zone)
    with pytest.raises(InvalidRequest):
        QuietHours(time(7), time(7), "UTC")


@pytest.mark.parametrize(("kind", "given", "stored"), [
    (ContactKind.EMAIL, " Ada.L@Example.COM ", "Ada.L@example.com"),
    (ContactKind.PHONE, "+1 (415) 555-0123", "+14155550123"),
])
def test_addresses_are_stored_in_one_form(kind, given, stored):
    assert checked_address(kind, given) == stored


@pytest.mark.parametrize(("kind", "given"), [
    (ContactKind.EMAIL, "ada"), (ContactKind.EMAIL, "ada@localhost"), (ContactKind.EMAIL, "a b@example.com"),
    (ContactKind.EMAIL, "<a@example.com>"), (ContactKind.PHONE, "4155550123"), (ContactKind.PHONE, "+0123456789"),
    (ContactKind.PHONE, "+1415555012345678"), (ContactKind.PHONE, "+1415abc0123"),
])
def test_addresses_that_are_not_are_refused(kind, given):
    with pytest.raises(InvalidRequest):
        checked_address(kind, given)


def test_money_is_shown_exactly_with_at_least_cents():
    assert [money(Decimal(v)) for v in ("189.5", "0.1234", "12345", "1234567.8900")] == [
        "189.50", "0.1234", "12,345.00", "1,234,567.89"]


def test_a_group_of_fills_is_one_message_about_the_order_as_it_ended():
    first = filled(9, 3, "49", done=False)
    last = filled(9, 6, "48.5")
    message = render([first, last])
    assert message.title == "Order filled: bought 9 AAPL at 48.50"
    assert "2 fills of your order to buy 9 AAPL:" in message.lines[0]
    assert message.lines[1:3] == ("  3 at 49.00", "  6 at 48.50")
    assert message.tag == "order-trade-1" and message.event_type is EventType.TRADE_EXECUTED


def test_sms_is_short_and_a_balance_sms_carries_no_amount():
    balance = BalanceUpdated(user_id="u", occurred_at=T0, balance=Balance(Decimal("12345.67"), Decimal("1")))
    text = sms_text(render([balance]))
    assert "12,345.67" not in text and len(text) <= 160
    long = TradeRejected(user_id="u", occurred_at=T0, order=make_order(symbol="X" * 200, status=Status.REJECTED))
    assert len(sms_text(render([long]))) == 160


def test_an_email_has_both_parts_escaped_and_the_unsubscribe_link():
    rejected = TradeRejected(user_id="u", occurred_at=T0,
                             order=make_order(status=Status.REJECTED, reject_reason="<b>venue</b> & co"))
    email = compose_email(render([rejected]), "ada@example.com", app_url="https://app.test/",
                          unsubscribe_url="https://app.test/notifications/unsubscribe?token=a.b")
    assert "<b>venue</b> & co" in email.text and "&lt;b&gt;venue&lt;/b&gt; &amp; co" in email.html
    assert "Stop emails about orders rejected: https://app.test/notifications/unsubscribe?token=a.b" in email.text
    assert email.subject == "tickerdesk: Order rejected: buy 10 AAPL"


def test_push_topic_is_the_order_in_at_most_32_url_safe_characters():
    message = render([filled()])
    assert push_topic(message) == "trade1"
    balance = BalanceUpdated(user_id="u", occurred_at=T0, balance=Balance())
    assert push_topic(render([balance])) == "balance"


def test_unsubscribe_tokens_name_a_user_and_type_and_cannot_be_forged():
    token = make_token("secret", "user-1", EventType.TRADE_EXECUTED)
    assert read_token("secret", token) == ("user-1", EventType.TRADE_EXECUTED)
    assert read_token("other secret", token) is None
    body, signature = token.split(".")
    forged = make_token("secret", "user-2", EventType.TRADE_EXECUTED).split(".")[0] + "." + signature
    for bad in (forged, body, token + "x", "", ".", "a.b.c", "é." + signature, "x" * 5000):
        assert read_token("secret", bad) is None
    not_offered = make_token("secret", "user-1", EventType.PORTFOLIO_UPDATED)
    assert read_token("secret", not_offered) is None
    assert unsubscribe_url("https://x.test/", "secret", "user 1", EventType.TRADE_EXPIRED).startswith(
        "https://x.test/notifications/unsubscribe?token=")
