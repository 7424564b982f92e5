"""The wire form of events: one envelope per event, and every event type survives a
round trip through JSON exactly (the consumers see what the producer wrote)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickerdesk.app.ports import ExecutionReport, ReportKind, VenueOrder
from tickerdesk.codec import (
    decode_event,
    dumps,
    encode_event,
    loads,
    order_from_wire,
    order_to_wire,
    report_from_wire,
    report_to_wire,
)
from tickerdesk.domain.accounting import Balance, Position
from tickerdesk.domain.errors import UnsupportedEvent
from tickerdesk.domain.events import (
    EVENT_TYPES,
    BalanceUpdated,
    Event,
    EventType,
    PortfolioUpdated,
    TradeCanceled,
    TradeCancelRequested,
    TradeExecuted,
    TradeExpired,
    TradePartiallyExecuted,
    TradePlaced,
    TradeRejected,
)
from tickerdesk.domain.orders import OrderType, Side, Status, TimeInForce, apply_fill

from .factories import T0, T1, make_order


def over_the_wire(event: Event) -> Event:
    return decode_event(loads(dumps(encode_event(event))))


def test_the_envelope_carries_id_type_user_time_version_and_data():
    event = TradePlaced(user_id="user-1", occurred_at=T0, order=make_order())
    envelope = encode_event(event)
    assert set(envelope) == {"id", "type", "userId", "occurredAt", "schemaVersion", "data"}
    assert envelope["type"] == "trade.placed" and envelope["userId"] == "user-1"
    assert envelope["schemaVersion"] == 1
    assert envelope["data"]["tradeId"] == "trade-1"
    assert '"occurredAt":"2024-05-01T14:30:00.123456Z"' in dumps(envelope)


def test_each_event_gets_its_own_time_ordered_id():
    a = BalanceUpdated(user_id="u", occurred_at=T0, balance=Balance())
    b = BalanceUpdated(user_id="u", occurred_at=T0, balance=Balance())
    assert a.id != b.id and a.id < b.id


def test_every_event_type_has_a_class():
    assert set(EVENT_TYPES) == set(EventType)


ORDERS = st.builds(
    lambda side, order_type, tif, quantity, limit, filled, client, cancel: _order(
        side, order_type, tif, quantity, limit, filled, client, cancel),
    st.sampled_from(Side), st.sampled_from(OrderType), st.sampled_from(TimeInForce),
    st.integers(1, 10_000), st.decimals("0.0001", "99999", places=4), st.integers(0, 10_000),
    st.none() | st.text(min_size=1, max_size=20), st.booleans(),
)


def _order(side, order_type, tif, quantity, limit, filled, client, cancel):
    limit_price = limit if order_type is OrderType.LIMIT else None
    hold = limit if side is Side.BUY else None
    order = make_order(side=side, order_type=order_type, quantity=quantity, limit_price=limit_price,
                       hold_price=hold, time_in_force=tif, client_order_id=client, cancel_requested=cancel)
    if side is Side.BUY and order_type is OrderType.MARKET:
        order = make_order(side=side, order_type=order_type, quantity=quantity, limit_price=None,
                           hold_price=limit, time_in_force=tif, client_order_id=client, cancel_requested=cancel)
    shares = min(filled, quantity)
    if shares:
        order, _ = apply_fill(order, shares, hold if hold is not None else limit, T1)
    return order


@given(ORDERS, st.sampled_from([TradePlaced, TradeCancelRequested, TradeCanceled, TradeExpired, TradeRejected]))
def test_trade_events_survive_the_wire(order, cls):
    event = cls(user_id=order.user_id, occurred_at=T1, order=order)
    assert over_the_wire(event) == event


@given(ORDERS, st.integers(1, 1000), st.decimals("0.0001", "99999", places=4),
       st.sampled_from([TradePartiallyExecuted, TradeExecuted]))
def test_fill_events_survive_the_wire(order, shares, price, cls):
    event = cls(user_id=order.user_id, occurred_at=T1, order=order, last_quantity=shares, last_price=price)
    assert over_the_wire(event) == event


@given(st.decimals("0", "1000000000", places=4), st.decimals("0", "1000000000", places=4))
def test_balance_events_survive_the_wire(available, held):
    event = BalanceUpdated(user_id="u", occurred_at=T0, balance=Balance(available, held))
    assert over_the_wire(event) == event


@given(st.integers(0, 10_000), st.integers(0, 10_000), st.decimals("0", "99999", places=8),
       st.decimals("-99999", "99999", places=8))
def test_portfolio_events_survive_the_wire(quantity, held, average, pnl):
    event = PortfolioUpdated(user_id="u", occurred_at=T0,
                             position=Position("AAPL", quantity, min(held, quantity), average, pnl))
    assert over_the_wire(event) == event


@pytest.mark.parametrize("change", [{"type": "trade.teleported"}, {"schemaVersion": 2}])
def test_an_event_this_code_cannot_read_is_refused_not_guessed(change):
    envelope = {**encode_event(BalanceUpdated(user_id="u", occurred_at=T0, balance=Balance())), **change}
    with pytest.raises(UnsupportedEvent):
        decode_event(envelope)


def test_venue_orders_and_reports_survive_the_wire():
    order = VenueOrder("t-1", "u-1", "AAPL", Side.BUY, 10, Decimal("189.5"), TimeInForce.GTC, T0)
    assert order_from_wire(loads(dumps(order_to_wire(order)))) == order
    report = ExecutionReport("t-1.fill.10", "t-1", "u-1", ReportKind.FILL, 10, Decimal("189.25"), 10, 0, T0)
    assert report_from_wire(loads(dumps(report_to_wire(report)))) == report


def test_a_closed_order_keeps_its_reason_on_the_wire():
    order = make_order(status=Status.REJECTED, reject_reason="limit price outside the price band")
    event = TradeRejected(user_id="user-1", occurred_at=T0, order=order)
    assert over_the_wire(event) == event
