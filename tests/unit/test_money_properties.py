"""Property tests of the money rules: holds, fills and closes conserve cash exactly,
nothing leaves the 4-decimal grid, positions never go negative, event ids are ordered."""

from __future__ import annotations

import decimal
import itertools
from contextlib import contextmanager
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tickerdesk.domain.accounting import Balance, LedgerEntry, LedgerKind, Position, nonzero
from tickerdesk.domain.errors import InvalidTransition
from tickerdesk.domain.events import new_event_id
from tickerdesk.domain.money import MAX_PRICE, MONEY_STEP, InvalidAmount, checked_money, plain
from tickerdesk.domain.orders import (
    MARKET_COLLAR,
    OrderType,
    Side,
    Status,
    apply_fill,
    close_order,
    market_buy_collar,
)

from .factories import T1, make_order

PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

UNITS_PER_DOLLAR = 10_000


def grid_price(low_units: int = 1, high_units: int = 10_000 * UNITS_PER_DOLLAR) -> st.SearchStrategy[Decimal]:
    """A Decimal with at most 4 places between low and high (in units of 0.0001)."""
    return st.integers(low_units, high_units).map(lambda n: Decimal(n).scaleb(-4))


prices = grid_price()
closes = st.sampled_from([None, Status.CANCELED, Status.EXPIRED])


def on_grid(amount: Decimal) -> bool:
    return amount.is_finite() and amount.as_tuple().exponent >= -4 and amount == amount.quantize(MONEY_STEP)


@contextmanager
def exact():
    """Any rounding inside the block raises decimal.Inexact instead of passing silently."""
    with decimal.localcontext() as ctx:
        ctx.traps[decimal.Inexact] = True
        ctx.traps[decimal.Rounded] = True
        yield


@st.composite
def fills_within(draw, quantity: int, low_units: int, high_units: int, max_fills: int = 8):
    remaining, fills = quantity, []
    for _ in range(draw(st.integers(0, max_fills))):
        if remaining == 0:
            break
        shares = draw(st.integers(1, remaining))
        fills.append((shares, draw(grid_price(low_units, high_units))))
        remaining -= shares
    # sometimes fill whatever is left, so fully executed orders are common
    if remaining and draw(st.booleans()):
        fills.append((remaining, draw(grid_price(low_units, high_units))))
    return fills


@st.composite
def buy_scenarios(draw):
    quantity = draw(st.integers(1, 10_000))
    if draw(st.booleans()):
        hold = draw(prices)
        order = make_order(quantity=quantity, limit_price=hold)
    else:
        hold = market_buy_collar(draw(prices))
        order = make_order(quantity=quantity, order_type=OrderType.MARKET, limit_price=None, hold_price=hold)
    units = int(hold * UNITS_PER_DOLLAR)
    fills = draw(fills_within(quantity, 1, units))
    extra_cash = draw(grid_price(0, 100 * UNITS_PER_DOLLAR))
    return order, fills, draw(closes), extra_cash


# --- (1) buys conserve cash ---------------------------------------------------


@PROPS
@given(buy_scenarios())
def test_a_buy_hold_is_exactly_spent_plus_released_and_never_rounded(scenario):
    order, fills, close, extra_cash = scenario
    initial_hold = order.initial_cash_hold
    start = extra_cash + initial_hold
    spent_total = released_total = Decimal(0)
    with exact():
        balance = Balance(available=start).post(LedgerEntry(LedgerKind.HOLD, initial_hold))
        assert balance.held == order.held_cash == initial_hold
        for shares, price in fills:
            order, effect = apply_fill(order, shares, price, T1)
            assert effect.spent >= 0 and effect.released >= 0
            assert Fraction(effect.spent) == shares * Fraction(price)
            assert Fraction(effect.released) == shares * (Fraction(order.hold_price) - Fraction(price))
            assert on_grid(effect.spent) and on_grid(effect.released)
            balance = balance.post(
                *nonzero(LedgerEntry(LedgerKind.BUY, effect.spent), LedgerEntry(LedgerKind.RELEASE, effect.released))
            )
            spent_total += effect.spent
            released_total += effect.released
            assert balance.available >= 0 and balance.held >= 0
            assert balance.held == order.held_cash
        freed = Decimal(0)
        if close is not None:
            if order.is_open:
                freed = order.held_cash
                order = close_order(order, close, T1)
                balance = balance.post(*nonzero(LedgerEntry(LedgerKind.RELEASE, freed)))
            else:
                with pytest.raises(InvalidTransition):
                    close_order(order, close, T1)
    assert initial_hold == spent_total + released_total + freed + order.held_cash
    assert balance.held == order.held_cash
    assert balance.available == start - spent_total - order.held_cash
    assert balance.total == start - spent_total
    assert balance.available >= 0 and balance.held >= 0
    assert Fraction(order.filled_value) == sum(Fraction(p) * q for q, p in fills)
    assert order.filled_quantity == sum(q for q, _ in fills)
    for amount in (initial_hold, spent_total, released_total, freed, balance.available, balance.held):
        assert on_grid(amount)
    if close is not None or order.filled_quantity == order.quantity:
        assert not order.is_open and balance.held == 0


# --- (2) sells book exact proceeds and account for every share -----------------


@st.composite
def sell_scenarios(draw):
    quantity = draw(st.integers(1, 10_000))
    owned = quantity + draw(st.integers(0, 1_000))
    if draw(st.booleans()):
        limit = draw(prices)
        order = make_order(side=Side.SELL, quantity=quantity, limit_price=limit)
        low = int(limit * UNITS_PER_DOLLAR)
    else:
        order = make_order(side=Side.SELL, quantity=quantity, order_type=OrderType.MARKET, limit_price=None)
        low = 1
    fills = draw(fills_within(quantity, low, low + 1_000 * UNITS_PER_DOLLAR))
    return order, owned, draw(prices), fills, draw(closes)


@PROPS
@given(sell_scenarios())
def test_a_sell_books_exactly_the_sum_of_its_fills_and_frees_every_unfilled_share(scenario):
    order, owned, cost, fills, close = scenario
    position = Position("AAPL").bought(owned, cost).hold(order.quantity)
    balance = Balance()
    proceeds_total = Decimal(0)
    with exact():
        for shares, price in fills:
            order, effect = apply_fill(order, shares, price, T1)
            assert effect.spent == 0 and effect.released == 0
            assert on_grid(effect.proceeds)
            balance = balance.post(LedgerEntry(LedgerKind.SELL, effect.proceeds))
            proceeds_total += effect.proceeds
            position = position.sold(shares, price)
            assert position.held_quantity == order.held_shares
    freed = 0
    if close is not None and order.is_open:
        freed = order.held_shares
        order = close_order(order, close, T1)
        position = position.released(freed)
    filled = sum(q for q, _ in fills)
    assert Fraction(proceeds_total) == sum(q * Fraction(p) for q, p in fills)
    assert balance.available == proceeds_total and balance.held == 0
    assert order.filled_quantity == filled
    assert freed + order.held_shares + filled == order.quantity
    assert position.quantity == owned - filled
    assert position.held_quantity == order.held_shares
    if close is not None:
        assert order.held_shares == 0 and position.held_quantity == 0


# --- (3) the market buy collar ------------------------------------------------


@PROPS
@given(last=grid_price(1, 10_000 * UNITS_PER_DOLLAR))
def test_the_market_buy_collar_covers_last_plus_five_percent_with_at_most_four_decimals(last):
    collar = market_buy_collar(last)
    target = last * MARKET_COLLAR
    assert collar >= target
    assert collar - target < MONEY_STEP
    assert on_grid(collar)


@PROPS
@given(last=grid_price(1, 10_000 * UNITS_PER_DOLLAR), quantity=st.integers(1, 10_000), data=st.data())
def test_a_market_buy_filled_at_up_to_last_plus_five_percent_never_costs_more_than_its_hold(last, quantity, data):
    collar = market_buy_collar(last)
    order = make_order(quantity=quantity, order_type=OrderType.MARKET, limit_price=None, hold_price=collar)
    # any fill price <= last * 1.05, on the grid (rounded down so it stays below the bound)
    bound_units = int((last * MARKET_COLLAR * UNITS_PER_DOLLAR).to_integral_value(rounding=decimal.ROUND_FLOOR))
    price = data.draw(grid_price(1, bound_units))
    shares = data.draw(st.integers(1, quantity))
    _, effect = apply_fill(order, shares, price, T1)
    assert effect.spent <= shares * collar
    assert effect.spent + effect.released == shares * collar
    assert effect.released >= 0


@PROPS
@given(last=grid_price(1, int(MAX_PRICE) * UNITS_PER_DOLLAR))
def test_the_market_buy_collar_never_exceeds_the_maximum_price_and_a_fill_above_it_is_refused(last):
    collar = market_buy_collar(last)
    assert collar <= MAX_PRICE
    assert collar == min((last * MARKET_COLLAR).quantize(MONEY_STEP, rounding=decimal.ROUND_CEILING), MAX_PRICE)
    order = make_order(quantity=1, order_type=OrderType.MARKET, limit_price=None, hold_price=collar)
    with pytest.raises(InvalidTransition):
        apply_fill(order, 1, collar + MONEY_STEP, T1)


# --- (4) positions --------------------------------------------------------------


operations = st.lists(
    st.tuples(st.sampled_from(["buy", "hold", "sell", "release"]), st.integers(1, 1_000), prices),
    max_size=40,
)


@PROPS
@given(operations)
def test_a_position_quantity_is_buys_minus_sells_and_never_negative(ops):
    position = Position("AAPL")
    bought = sold = 0
    for op, shares, price in ops:
        if op == "buy":
            position = position.bought(shares, price)
            bought += shares
        elif op == "hold":
            shares = min(shares, position.quantity - position.held_quantity)
            if shares:
                position = position.hold(shares)
        elif op == "sell":
            shares = min(shares, position.held_quantity)
            if shares:
                position = position.sold(shares, price)
                sold += shares
        else:
            shares = min(shares, position.held_quantity)
            position = position.released(shares)
        assert position.quantity == bought - sold
        assert 0 <= position.held_quantity <= position.quantity
        assert position.average_price >= 0
        if position.quantity == 0:
            assert position.average_price == 0


@PROPS
@given(buys=st.lists(st.tuples(st.integers(1, 1_000), prices), min_size=1, max_size=10))
def test_a_position_average_is_the_weighted_average_of_its_buys_to_eight_places(buys):
    position = Position("AAPL")
    for shares, price in buys:
        position = position.bought(shares, price)
    exact_average = sum(q * Fraction(p) for q, p in buys) / sum(q for q, _ in buys)
    # each buy rounds the running average to 1e-8 (half-even), so the error is bounded by 1e-8 per buy
    assert abs(Fraction(position.average_price) - exact_average) <= Fraction(len(buys), 10**8)
    assert min(p for _, p in buys) <= position.average_price <= max(p for _, p in buys)


# --- money parsing rules ---------------------------------------------------------


@PROPS
@given(value=grid_price(1, int(MAX_PRICE) * UNITS_PER_DOLLAR), extra_zeros=st.integers(0, 6), normalize=st.booleans())
def test_checked_money_accepts_every_grid_value_whatever_its_notation(value, extra_zeros, normalize):
    written = value.normalize() if normalize else Decimal(f"{value}{'0' * extra_zeros}")
    assert checked_money(written, field="price", maximum=MAX_PRICE) == value


@PROPS
@given(units=st.integers(1, 10**9), digit=st.integers(1, 9), more=st.integers(0, 10))
def test_checked_money_refuses_every_value_with_a_nonzero_fifth_decimal_or_beyond(units, digit, more):
    value = Decimal(units).scaleb(-4) + Decimal(digit).scaleb(-5 - more)
    with pytest.raises(InvalidAmount):
        checked_money(value, field="price", maximum=MAX_PRICE)


@PROPS
@given(units=st.integers(-(10**15), 10**15), places=st.integers(0, 6), pad=st.integers(0, 4))
def test_plain_keeps_the_value_and_writes_it_without_exponent_or_trailing_zeros(units, places, pad):
    # places 7..8 (reachable by 8-place averages and P&L) are covered by the tests below
    value = Decimal(units).scaleb(-places)
    value = value.quantize(Decimal(1).scaleb(-(places + pad)))
    result = plain(value)
    assert result == value
    text = str(result)
    assert "E" not in text and "e" not in text
    if "." in text:
        assert not text.endswith("0")


@pytest.mark.parametrize("value", ["1E-8", "-0.00000001", "0.00000050", "0.0000001"])
def test_plain_writes_values_below_one_millionth_without_an_exponent(value):
    result = plain(Decimal(value))
    assert result == Decimal(value)
    assert "E" not in str(result)


def test_a_tiny_realized_pnl_is_reported_without_an_exponent():
    position = Position("AAPL").bought(9999, Decimal("1")).bought(1, Decimal("1.0001")).hold(1)
    position = position.sold(1, Decimal("1"))
    assert position.realized_pnl == Decimal("-0.00000001")
    assert str(plain(position.realized_pnl)) == "-0.00000001"


# --- (5) event ids ---------------------------------------------------------------


def test_event_ids_generated_in_a_tight_loop_are_unique_and_strictly_increasing():
    ids = [new_event_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert all(a < b for a, b in itertools.pairwise(ids))
    assert all(len(i) == 36 and i[14] == "7" and i[19] in "89ab" for i in ids)
