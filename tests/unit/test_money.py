"""The exact money and quantity rules of tickerdesk.domain.money."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tickerdesk.domain.money import (
    MAX_AMOUNT,
    MAX_PRICE,
    MAX_QUANTITY,
    MONEY_STEP,
    InvalidAmount,
    ceil_cents,
    checked_money,
    checked_quantity,
    money,
    plain,
    round_average,
)


def price(value: Decimal | str) -> Decimal:
    return checked_money(Decimal(value), field="price", maximum=MAX_PRICE)


# --- checked_money: accepted -------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("189.5", "189.5"),
        ("189.1234", "189.1234"),
        ("0.0001", "0.0001"),
        ("1", "1"),
        ("1E+2", "100"),
        ("189.50000", "189.5"),
        ("189.12340000000", "189.1234"),
        ("1000000", "1000000"),  # exactly the maximum
    ],
)
def test_checked_money_accepts_positive_amounts_with_at_most_four_decimals(text, expected):
    result = price(text)
    assert result == Decimal(expected)


def test_checked_money_reads_exponent_notation_by_value_so_1e2_is_one_hundred():
    assert price("1E+2") == Decimal(100)


def test_checked_money_returns_the_value_on_the_four_decimal_grid():
    result = price("189.5")
    assert result.as_tuple().exponent == -4
    assert result == result.quantize(MONEY_STEP)


def test_checked_money_accepts_trailing_zeros_beyond_four_places_without_changing_the_value():
    assert price("189.50000") == Decimal("189.5")


# --- checked_money: refused --------------------------------------------------


@pytest.mark.parametrize("text", ["189.12345", "0.00001", "1E-5", "0.10000000000000001", "100.00001"])
def test_checked_money_refuses_a_fifth_significant_decimal(text):
    with pytest.raises(InvalidAmount, match="decimal places"):
        price(text)


@pytest.mark.parametrize("text", ["0", "0.0000", "-0", "-1", "-0.0001", "-189.5"])
def test_checked_money_refuses_zero_and_negative_amounts(text):
    with pytest.raises(InvalidAmount, match="greater than zero"):
        price(text)


@pytest.mark.parametrize("text", ["NaN", "-NaN", "sNaN", "Infinity", "-Infinity", "Inf"])
def test_checked_money_refuses_non_finite_decimals(text):
    with pytest.raises(InvalidAmount, match="finite"):
        price(text)


@pytest.mark.parametrize("text", ["1000000.0001", "1E+7", "1E+400"])
def test_checked_money_refuses_amounts_over_the_maximum(text):
    with pytest.raises(InvalidAmount, match="at most"):
        price(text)


def test_checked_money_maximum_is_the_one_passed_in():
    assert checked_money(Decimal("1000000000000"), field="amount", maximum=MAX_AMOUNT) == MAX_AMOUNT
    with pytest.raises(InvalidAmount):
        checked_money(Decimal("1000000000000.0001"), field="amount", maximum=MAX_AMOUNT)


@pytest.mark.parametrize("value", [189.5, 100, "189.5", None, True])
def test_checked_money_refuses_anything_that_is_not_a_decimal(value):
    with pytest.raises(InvalidAmount):
        checked_money(value, field="price", maximum=MAX_PRICE)


def test_checked_money_names_the_field_in_its_error():
    with pytest.raises(InvalidAmount, match="limitPrice"):
        checked_money(Decimal(0), field="limitPrice", maximum=MAX_PRICE)


# --- checked_quantity --------------------------------------------------------


@pytest.mark.parametrize("value", [1, 10, MAX_QUANTITY])
def test_checked_quantity_accepts_whole_positive_share_counts_up_to_the_maximum(value):
    assert checked_quantity(value) == value


@pytest.mark.parametrize("value", [True, False])
def test_checked_quantity_refuses_booleans_even_though_they_are_ints(value):
    with pytest.raises(InvalidAmount, match="whole number"):
        checked_quantity(value)


@pytest.mark.parametrize("value", [10.0, 10.5, Decimal("10"), Decimal("10.5"), "10", None])
def test_checked_quantity_refuses_non_integers_including_integral_floats_and_decimals(value):
    with pytest.raises(InvalidAmount, match="whole number"):
        checked_quantity(value)


@pytest.mark.parametrize("value", [0, -1, -MAX_QUANTITY])
def test_checked_quantity_refuses_zero_and_negative_counts(value):
    with pytest.raises(InvalidAmount, match="greater than zero"):
        checked_quantity(value)


@pytest.mark.parametrize("value", [MAX_QUANTITY + 1, 10**30])
def test_checked_quantity_refuses_counts_above_the_maximum(value):
    with pytest.raises(InvalidAmount, match="at most"):
        checked_quantity(value)


def test_checked_quantity_names_the_field_in_its_error():
    with pytest.raises(InvalidAmount, match="shares"):
        checked_quantity(0, field="shares")


# --- ceil_cents / round_average / money -------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        ("198.975", "198.9750"),
        ("198.97501", "198.9751"),
        ("0.00001", "0.0001"),
        ("1.00000000001", "1.0001"),
        ("5", "5.0000"),
        ("199.3250", "199.3250"),
    ],
)
def test_ceil_cents_rounds_up_to_the_money_step(value, expected):
    result = ceil_cents(Decimal(value))
    assert result == Decimal(expected)
    assert result >= Decimal(value)
    assert result.as_tuple().exponent == -4


def test_ceil_cents_never_rounds_a_value_down():
    assert ceil_cents(Decimal("10.00009")) == Decimal("10.0001")


def test_round_average_rounds_half_even_to_eight_places():
    assert round_average(Decimal("1.000000005")) == Decimal("1.00000000")
    assert round_average(Decimal("1.000000015")) == Decimal("1.00000002")
    assert round_average(Decimal(1) / Decimal(3)) == Decimal("0.33333333")


def test_money_accepts_exact_grid_values_and_refuses_finer_ones():
    assert money("12.34") == Decimal("12.34")
    assert money(7) == Decimal(7)
    with pytest.raises(InvalidAmount):
        money("12.34567")


# --- plain -------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, text",
    [
        ("189.5000", "189.5"),
        ("1E+2", "100"),
        ("100.0000", "100"),
        ("0E-8", "0"),
        ("0.0000", "0"),
        ("0.00010000", "0.0001"),
        ("1.23400000", "1.234"),
        ("-12.5000", "-12.5"),
        ("1.5E+3", "1500"),
    ],
)
def test_plain_strips_trailing_zeros_and_exponents_without_changing_the_value(value, text):
    result = plain(Decimal(value))
    assert str(result) == text
    assert result == Decimal(value)


def test_plain_passes_none_through():
    assert plain(None) is None
