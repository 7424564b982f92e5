"""The JSON shapes clients and consumers see: camelCase keys, plain numbers, UTC 'Z' times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tickerdesk.app.views import balance_view, holding_view, position_view, rfc3339, trade_view
from tickerdesk.codec import dumps
from tickerdesk.domain.accounting import Balance, Position
from tickerdesk.domain.events import USER_FACING, EventType
from tickerdesk.domain.orders import OrderType, Side, Status, apply_fill

from .factories import T0, T1, make_order

DESIGN_TRADE_KEYS = {
    "tradeId", "userId", "stockSymbol", "quantity", "pricePerShare", "totalPrice", "tradeType",
    "status", "createdAt", "updatedAt", "orderType", "limitPrice", "timeInForce", "clientOrderId",
    "filledQuantity", "averageFillPrice", "cancelRequested",
}


def test_trade_view_renders_every_design_key_in_camel_case():
    view = trade_view(make_order())
    assert set(view) >= DESIGN_TRADE_KEYS
    assert all("_" not in key for key in view)


def test_trade_view_maps_each_order_field_to_its_design_key():
    order = make_order(
        trade_id="t-9", user_id="u-7", symbol="MSFT", side=Side.SELL, quantity=12, limit_price="189.5000",
        client_order_id="c-1", cancel_requested=True, status=Status.PENDING, updated_at=T1,
    )
    view = trade_view(order)
    assert view["tradeId"] == "t-9"
    assert view["userId"] == "u-7"
    assert view["stockSymbol"] == "MSFT"
    assert view["quantity"] == 12
    assert view["tradeType"] == "sell"
    assert view["status"] == "pending"
    assert view["orderType"] == "limit"
    assert view["timeInForce"] == "day"
    assert view["clientOrderId"] == "c-1"
    assert view["filledQuantity"] == 0
    assert view["averageFillPrice"] is None
    assert view["cancelRequested"] is True
    assert view["limitPrice"] == Decimal("189.5")
    assert view["pricePerShare"] == Decimal("189.5")
    assert view["totalPrice"] == Decimal("2274")


def test_trade_view_status_uses_the_camel_case_state_name():
    order, _ = apply_fill(make_order(quantity=10), 4, Decimal("99.5"), T1)
    view = trade_view(order)
    assert view["status"] == "partiallyExecuted"
    assert view["filledQuantity"] == 4
    assert view["averageFillPrice"] == Decimal("99.5")
    assert view["pricePerShare"] == Decimal("99.5")
    assert view["totalPrice"] == Decimal("398")


def test_trade_view_prices_are_written_without_trailing_zeros_or_exponents_in_json():
    order, _ = apply_fill(make_order(quantity=2, limit_price="189.5000"), 2, Decimal("189.5000"), T1)
    text = dumps(trade_view(order))
    assert '"pricePerShare":189.5,' in text
    assert '"totalPrice":379,' in text
    assert '"limitPrice":189.5,' in text
    assert '"averageFillPrice":189.5,' in text


def test_a_market_order_view_has_null_prices_until_filled():
    view = trade_view(make_order(order_type=OrderType.MARKET, limit_price=None, hold_price="105"))
    assert view["orderType"] == "market"
    assert view["limitPrice"] is None
    assert view["pricePerShare"] is None
    assert view["totalPrice"] is None


def test_trade_view_timestamps_are_utc_and_end_in_z():
    view = trade_view(make_order(created_at=T0, updated_at=T1))
    assert view["createdAt"] == "2024-05-01T14:30:00.123456Z"
    assert view["updatedAt"] == "2024-05-01T14:31:00.000000Z"
    for key in ("createdAt", "updatedAt"):
        assert view[key].endswith("Z") and "+" not in view[key]


def test_rfc3339_converts_other_offsets_to_utc_z():
    moment = datetime(2024, 5, 1, 16, 30, tzinfo=timezone(timedelta(hours=2)))
    assert rfc3339(moment) == "2024-05-01T14:30:00.000000Z"
    assert rfc3339(datetime(2024, 5, 1, 14, 30, tzinfo=UTC)).endswith("Z")


def test_balance_view_shows_available_held_and_total_as_plain_numbers():
    view = balance_view("u-1", Balance(Decimal("100.5000"), Decimal("20.0000")))
    assert view == {
        "userId": "u-1",
        "availableBalance": Decimal("100.5"),
        "heldForTrades": Decimal("20"),
        "totalBalance": Decimal("120.5"),
    }
    assert str(view["heldForTrades"]) == "20"


def test_holding_and_position_views_value_the_position_at_the_current_price():
    position = Position("AAPL").bought(10, Decimal("100")).bought(5, Decimal("103")).hold(3)
    view = position_view(position, Decimal("110"))
    assert view["stockSymbol"] == "AAPL"
    assert view["quantity"] == 15
    assert view["heldQuantity"] == 3
    assert view["averagePurchasePrice"] == Decimal("101")
    assert str(view["averagePurchasePrice"]) == "101"
    assert view["currentPrice"] == Decimal("110")
    assert view["marketValue"] == Decimal("1650")
    assert view["unrealizedPnl"] == Decimal("135")
    assert set(holding_view(position)) <= set(view)


def test_a_position_without_a_price_has_null_valuation():
    view = position_view(Position("AAPL").bought(1, Decimal("1")), None)
    assert view["currentPrice"] is None and view["marketValue"] is None and view["unrealizedPnl"] is None


@pytest.mark.parametrize("event_type", list(EventType))
def test_only_the_internal_cancel_request_event_is_hidden_from_users(event_type):
    assert (event_type in USER_FACING) == (event_type is not EventType.TRADE_CANCEL_REQUESTED)
