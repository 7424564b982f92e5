"""Orders: the state machine, holds, fills and the figures an order reports."""

from __future__ import annotations

from decimal import Decimal
from itertools import product

import pytest

from tickerdesk.domain.errors import InvalidRequest, InvalidTransition, UnknownSymbol
from tickerdesk.domain.instruments import Instrument, tradable
from tickerdesk.domain.money import MAX_PRICE, ZERO, ceil_cents
from tickerdesk.domain.orders import (
    CLOSING_STATUSES,
    OPEN_STATUSES,
    TRANSITIONS,
    OrderRequest,
    OrderType,
    Side,
    Status,
    TimeInForce,
    apply_fill,
    can_transition,
    close_order,
    hold_price_for,
    market_buy_collar,
    venue_limit_for,
)

from .factories import T1, make_order

TERMINAL = [Status.EXECUTED, Status.CANCELED, Status.EXPIRED, Status.REJECTED]

EXPECTED_EDGES = {
    (Status.PENDING, Status.PARTIALLY_EXECUTED),
    (Status.PENDING, Status.EXECUTED),
    (Status.PENDING, Status.CANCELED),
    (Status.PENDING, Status.EXPIRED),
    (Status.PENDING, Status.REJECTED),
    (Status.PARTIALLY_EXECUTED, Status.PARTIALLY_EXECUTED),
    (Status.PARTIALLY_EXECUTED, Status.EXECUTED),
    (Status.PARTIALLY_EXECUTED, Status.CANCELED),
    (Status.PARTIALLY_EXECUTED, Status.EXPIRED),
}


def request(**overrides) -> OrderRequest:
    fields = dict(
        symbol="AAPL",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=10,
        limit_price=Decimal("189.5"),
    )
    fields.update(overrides)
    return OrderRequest(**fields)


# --- state machine -----------------------------------------------------------


@pytest.mark.parametrize("current, new", sorted(EXPECTED_EDGES))
def test_every_edge_of_the_state_machine_is_allowed(current, new):
    assert can_transition(current, new)
    assert new in TRANSITIONS[current]


def test_the_state_machine_has_exactly_the_designed_edges():
    edges = {(current, new) for current, targets in TRANSITIONS.items() for new in targets}
    assert edges == EXPECTED_EDGES
    allowed = {(a, b) for a, b in product(Status, Status) if can_transition(a, b)}
    assert allowed == EXPECTED_EDGES


@pytest.mark.parametrize("terminal", TERMINAL)
def test_a_terminal_status_has_no_outgoing_edges(terminal):
    assert TRANSITIONS.get(terminal, frozenset()) == frozenset()
    assert not any(can_transition(terminal, new) for new in Status)


def test_a_partially_executed_order_cannot_be_rejected_or_go_back_to_pending():
    assert not can_transition(Status.PARTIALLY_EXECUTED, Status.REJECTED)
    assert not can_transition(Status.PARTIALLY_EXECUTED, Status.PENDING)
    assert not can_transition(Status.PENDING, Status.PENDING)


def test_open_statuses_are_exactly_pending_and_partially_executed():
    assert {Status.PENDING, Status.PARTIALLY_EXECUTED} == OPEN_STATUSES
    assert set(TRANSITIONS) == OPEN_STATUSES


@pytest.mark.parametrize(
    "current, new",
    [(Status.PENDING, s) for s in sorted(CLOSING_STATUSES)]
    + [(Status.PARTIALLY_EXECUTED, Status.CANCELED), (Status.PARTIALLY_EXECUTED, Status.EXPIRED)],
)
def test_close_order_moves_an_open_order_to_a_closing_status(current, new):
    order = make_order(status=current, filled_quantity=3 if current is Status.PARTIALLY_EXECUTED else 0,
                       filled_value=Decimal("300") if current is Status.PARTIALLY_EXECUTED else ZERO)
    closed = close_order(order, new, T1, reason="why")
    assert closed.status is new
    assert closed.updated_at == T1
    assert closed.reject_reason == "why"
    assert closed.filled_quantity == order.filled_quantity
    assert closed.filled_value == order.filled_value


@pytest.mark.parametrize("terminal", TERMINAL)
@pytest.mark.parametrize("new", sorted(CLOSING_STATUSES))
def test_close_order_refuses_to_close_an_order_already_in_a_terminal_status(terminal, new):
    with pytest.raises(InvalidTransition):
        close_order(make_order(status=terminal), new, T1)


def test_close_order_refuses_executed_to_canceled():
    with pytest.raises(InvalidTransition, match="executed"):
        close_order(make_order(status=Status.EXECUTED, filled_quantity=10), Status.CANCELED, T1)


def test_close_order_refuses_to_reject_a_partially_executed_order():
    with pytest.raises(InvalidTransition):
        close_order(make_order(status=Status.PARTIALLY_EXECUTED, filled_quantity=1), Status.REJECTED, T1)


@pytest.mark.parametrize("new", [Status.EXECUTED, Status.PARTIALLY_EXECUTED, Status.PENDING])
def test_close_order_only_accepts_canceled_expired_or_rejected(new):
    with pytest.raises(InvalidTransition):
        close_order(make_order(status=Status.PENDING), new, T1)


def test_close_order_keeps_an_earlier_reject_reason_when_none_is_given():
    closed = close_order(make_order(reject_reason="earlier"), Status.CANCELED, T1)
    assert closed.reject_reason == "earlier"


# --- OrderRequest ------------------------------------------------------------


def test_a_limit_order_request_needs_a_limit_price():
    with pytest.raises(InvalidRequest, match="limitPrice"):
        request(order_type=OrderType.LIMIT, limit_price=None)


def test_a_market_order_request_refuses_a_limit_price():
    with pytest.raises(InvalidRequest, match="limitPrice"):
        request(order_type=OrderType.MARKET, limit_price=Decimal("10"))


def test_valid_order_requests_are_accepted():
    assert request().limit_price == Decimal("189.5")
    market = request(order_type=OrderType.MARKET, limit_price=None)
    assert market.limit_price is None
    assert market.time_in_force is TimeInForce.DAY


# --- hold_price_for / market_buy_collar / venue_limit_for ---------------------


def test_a_limit_buy_holds_its_limit_price():
    assert hold_price_for(request(limit_price=Decimal("189.5")), Decimal("500")) == Decimal("189.5")


@pytest.mark.parametrize("last", ["100", "189.5", "189.37", "0.0001", "33.3333"])
def test_a_market_buy_holds_the_last_price_plus_five_percent_rounded_up(last):
    last = Decimal(last)
    hold = hold_price_for(request(order_type=OrderType.MARKET, limit_price=None), last)
    assert hold == ceil_cents(last * Decimal("1.05"))
    assert hold >= last * Decimal("1.05")


def test_a_market_buy_collar_rounds_up_a_sub_step_remainder():
    # 189.37 * 1.05 = 198.8385 exactly; 33.3333 * 1.05 = 34.999965 -> 35.0000
    assert market_buy_collar(Decimal("189.37")) == Decimal("198.8385")
    assert market_buy_collar(Decimal("33.3333")) == Decimal("35.0000")
    assert market_buy_collar(Decimal("0.0001")) == Decimal("0.0002")


def test_a_market_buy_collar_is_capped_at_the_maximum_price():
    assert market_buy_collar(Decimal("999999")) == MAX_PRICE


@pytest.mark.parametrize("order_type, limit", [(OrderType.LIMIT, Decimal("10")), (OrderType.MARKET, None)])
def test_a_sell_holds_no_cash_price(order_type, limit):
    assert hold_price_for(request(side=Side.SELL, order_type=order_type, limit_price=limit), Decimal("10")) is None


def test_the_venue_receives_the_limit_the_buy_collar_or_nothing():
    limit_buy = request()
    assert venue_limit_for(limit_buy, hold_price_for(limit_buy, Decimal("1"))) == Decimal("189.5")
    market_buy = request(order_type=OrderType.MARKET, limit_price=None)
    assert venue_limit_for(market_buy, hold_price_for(market_buy, Decimal("100"))) == Decimal("105.0000")
    market_sell = request(side=Side.SELL, order_type=OrderType.MARKET, limit_price=None)
    assert venue_limit_for(market_sell, hold_price_for(market_sell, Decimal("100"))) is None
    limit_sell = request(side=Side.SELL, limit_price=Decimal("120"))
    assert venue_limit_for(limit_sell, None) == Decimal("120")


# --- apply_fill --------------------------------------------------------------


def test_a_buy_filled_below_its_limit_releases_the_difference():
    order = make_order(quantity=10, limit_price="100")
    updated, effect = apply_fill(order, 4, Decimal("98.25"), T1)
    assert effect.shares == 4
    assert effect.price == Decimal("98.25")
    assert effect.spent == Decimal("393.00")
    assert effect.released == 4 * (Decimal("100") - Decimal("98.25")) == Decimal("7.00")
    assert effect.proceeds == ZERO
    assert effect.spent + effect.released == 4 * order.hold_price
    assert updated.filled_quantity == 4
    assert updated.filled_value == Decimal("393.00")
    assert updated.updated_at == T1


def test_a_buy_filled_at_its_limit_releases_nothing():
    _, effect = apply_fill(make_order(limit_price="100"), 10, Decimal("100"), T1)
    assert effect.released == ZERO
    assert effect.spent == Decimal("1000")


def test_a_market_buy_fill_releases_against_the_collar_not_the_last_price():
    order = make_order(order_type=OrderType.MARKET, limit_price=None, hold_price="105.0000", quantity=2)
    _, effect = apply_fill(order, 2, Decimal("101"), T1)
    assert effect.spent == Decimal("202")
    assert effect.released == Decimal("8.0000")


def test_a_buy_fill_above_the_hold_price_is_refused():
    order = make_order(limit_price="100")
    with pytest.raises(InvalidTransition, match="above the held price"):
        apply_fill(order, 1, Decimal("100.0001"), T1)


def test_a_sell_limit_fill_below_the_limit_is_refused():
    order = make_order(side=Side.SELL, limit_price="50")
    with pytest.raises(InvalidTransition, match="below the limit"):
        apply_fill(order, 1, Decimal("49.9999"), T1)


def test_a_sell_limit_fill_at_or_above_the_limit_books_the_proceeds():
    order = make_order(side=Side.SELL, limit_price="50", quantity=10)
    updated, effect = apply_fill(order, 3, Decimal("50"), T1)
    assert effect.proceeds == Decimal("150")
    updated, effect = apply_fill(updated, 2, Decimal("51.1234"), T1)
    assert effect.proceeds == Decimal("102.2468")
    assert effect.spent == ZERO and effect.released == ZERO
    assert updated.filled_value == Decimal("252.2468")


def test_a_market_sell_fills_at_any_positive_price():
    order = make_order(side=Side.SELL, order_type=OrderType.MARKET, limit_price=None)
    _, effect = apply_fill(order, 1, Decimal("0.0001"), T1)
    assert effect.proceeds == Decimal("0.0001")


@pytest.mark.parametrize("quantity", [11, 0, -1])
def test_a_fill_outside_one_to_the_remaining_quantity_is_refused(quantity):
    with pytest.raises(InvalidTransition):
        apply_fill(make_order(quantity=10), quantity, Decimal("100"), T1)


def test_an_over_fill_after_a_partial_fill_is_refused():
    order, _ = apply_fill(make_order(quantity=10), 7, Decimal("100"), T1)
    with pytest.raises(InvalidTransition, match="3 shares remaining"):
        apply_fill(order, 4, Decimal("100"), T1)


@pytest.mark.parametrize("price", ["0", "-1"])
def test_a_fill_at_a_non_positive_price_is_refused(price):
    with pytest.raises(InvalidTransition, match="positive"):
        apply_fill(make_order(), 1, Decimal(price), T1)


@pytest.mark.parametrize("status", TERMINAL)
def test_a_closed_order_cannot_fill(status):
    with pytest.raises(InvalidTransition, match="cannot fill"):
        apply_fill(make_order(status=status), 1, Decimal("100"), T1)


def test_a_fill_makes_the_order_partially_executed_then_executed():
    order = make_order(quantity=10)
    order, _ = apply_fill(order, 3, Decimal("99"), T1)
    assert order.status is Status.PARTIALLY_EXECUTED
    order, _ = apply_fill(order, 6, Decimal("98"), T1)
    assert order.status is Status.PARTIALLY_EXECUTED
    assert order.remaining_quantity == 1
    order, _ = apply_fill(order, 1, Decimal("100"), T1)
    assert order.status is Status.EXECUTED
    assert not order.is_open
    assert order.filled_quantity == 10


def test_a_single_complete_fill_goes_straight_to_executed():
    order, _ = apply_fill(make_order(quantity=5), 5, Decimal("100"), T1)
    assert order.status is Status.EXECUTED


# --- reported figures --------------------------------------------------------


def test_an_unfilled_limit_order_reports_its_limit_as_price_per_share_and_limit_times_quantity_as_total():
    order = make_order(quantity=10, limit_price="189.5")
    assert order.price_per_share == Decimal("189.5")
    assert order.total_price == Decimal("1895.0")
    assert order.average_fill_price is None


def test_an_unfilled_market_order_reports_no_price_and_no_total():
    order = make_order(order_type=OrderType.MARKET, limit_price=None, hold_price="105")
    assert order.price_per_share is None
    assert order.total_price is None
    assert order.average_fill_price is None


def test_a_filled_order_reports_its_average_fill_price_and_exact_fill_cost():
    order = make_order(quantity=10, limit_price="100")
    order, _ = apply_fill(order, 1, Decimal("99"), T1)
    order, _ = apply_fill(order, 2, Decimal("100"), T1)
    # 99 + 200 = 299 over 3 shares = 99.666666666...
    assert order.total_price == Decimal("299")
    assert order.average_fill_price == Decimal("99.66666667")
    assert order.price_per_share == order.average_fill_price


def test_a_partially_filled_order_totals_only_its_fills_not_its_limit():
    order, _ = apply_fill(make_order(quantity=10, limit_price="100"), 4, Decimal("90"), T1)
    assert order.total_price == Decimal("360")
    assert order.price_per_share == Decimal("90")


# --- held cash / held shares -------------------------------------------------


def test_an_open_buy_holds_its_unfilled_shares_at_the_hold_price():
    order = make_order(quantity=10, limit_price="100")
    assert order.initial_cash_hold == Decimal("1000")
    assert order.held_cash == Decimal("1000")
    order, _ = apply_fill(order, 4, Decimal("95"), T1)
    assert order.held_cash == Decimal("600")
    assert order.held_shares == 0


@pytest.mark.parametrize("status", [Status.CANCELED, Status.EXPIRED, Status.REJECTED, Status.EXECUTED])
def test_a_closed_buy_holds_no_cash(status):
    order = make_order(quantity=10, limit_price="100", status=status, filled_quantity=4)
    assert order.held_cash == ZERO
    assert order.initial_cash_hold == Decimal("1000")


def test_closing_a_partially_filled_buy_frees_exactly_the_unfilled_hold():
    order, _ = apply_fill(make_order(quantity=10, limit_price="100"), 4, Decimal("95"), T1)
    freed = order.held_cash
    closed = close_order(order, Status.CANCELED, T1)
    assert freed == Decimal("600")
    assert closed.held_cash == ZERO


def test_an_open_sell_holds_its_unfilled_shares_and_no_cash():
    order = make_order(side=Side.SELL, quantity=10, limit_price="50")
    assert order.held_shares == 10
    assert order.held_cash == ZERO
    assert order.initial_cash_hold == ZERO
    order, _ = apply_fill(order, 3, Decimal("50"), T1)
    assert order.held_shares == 7


@pytest.mark.parametrize("status", [Status.CANCELED, Status.EXPIRED, Status.REJECTED, Status.EXECUTED])
def test_a_closed_sell_holds_no_shares(status):
    order = make_order(side=Side.SELL, quantity=10, limit_price="50", status=status, filled_quantity=3)
    assert order.held_shares == 0


# --- instruments -------------------------------------------------------------


def test_tradable_returns_an_active_listed_instrument():
    apple = Instrument("AAPL", "Apple Inc.")
    assert tradable({"AAPL": apple}, "AAPL") is apple


def test_tradable_refuses_an_unknown_symbol():
    with pytest.raises(UnknownSymbol, match="MSFT"):
        tradable({"AAPL": Instrument("AAPL", "Apple Inc.")}, "MSFT")


def test_tradable_refuses_an_inactive_instrument():
    with pytest.raises(UnknownSymbol):
        tradable({"OLD": Instrument("OLD", "Delisted", active=False)}, "OLD")
