"""Exact money and quantity rules.

Cash and prices are `Decimal` with at most 4 decimal places; quantities are whole
shares. Nothing here rounds except `ceil_cents`, used by exactly one rule: the
price collar of a market buy (see `orders.market_buy_collar`). Averages are
reporting figures, rounded once by `round_average`, never used to move cash.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal

MONEY_PLACES = 4
MONEY_STEP = Decimal(1).scaleb(-MONEY_PLACES)  # 0.0001
AVERAGE_STEP = Decimal(1).scaleb(-8)
MAX_PRICE = Decimal("1000000")
MAX_QUANTITY = 1_000_000
MAX_AMOUNT = Decimal("1000000000000")  # one trillion per funding instruction
ZERO = Decimal(0)


class InvalidAmount(ValueError):
    """A number that can never be a price, an amount or a quantity."""


def checked_money(value: Decimal, *, field: str, maximum: Decimal) -> Decimal:
    """Return `value` if it is a finite, positive amount with at most 4 decimals.

    The check works on the decimal's own digits, so `1E+2` is 100 and `1E-5` is
    rejected for its precision, whatever its notation.
    """
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidAmount(f"{field} must be a finite number")
    if value <= 0:
        raise InvalidAmount(f"{field} must be greater than zero")
    if value > maximum:
        raise InvalidAmount(f"{field} must be at most {maximum}")
    exponent = value.as_tuple().exponent  # an int: a finite decimal has no 'n', 'N' or 'F'
    if isinstance(exponent, int) and exponent < -MONEY_PLACES and value != value.quantize(MONEY_STEP):
        raise InvalidAmount(f"{field} must have at most {MONEY_PLACES} decimal places")
    return value.quantize(MONEY_STEP)


def checked_quantity(value: object, *, field: str = "quantity") -> int:
    """Return `value` if it is a whole, positive number of shares within bounds."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAmount(f"{field} must be a whole number of shares")
    if value <= 0:
        raise InvalidAmount(f"{field} must be greater than zero")
    if value > MAX_QUANTITY:
        raise InvalidAmount(f"{field} must be at most {MAX_QUANTITY}")
    return value


def ceil_cents(value: Decimal) -> Decimal:
    """Round up to the money step: a hold may be a little too big, never too small."""
    return value.quantize(MONEY_STEP, rounding=ROUND_CEILING)


def round_average(value: Decimal) -> Decimal:
    """Average prices are reported to 8 places (half-even); cash never uses them."""
    return value.quantize(AVERAGE_STEP, rounding=ROUND_HALF_EVEN)


def money(value: Decimal | int | str) -> Decimal:
    """A value on the money grid, for amounts computed from exact inputs."""
    result = Decimal(value)
    if result != result.quantize(MONEY_STEP):
        raise InvalidAmount(f"{value} is not an exact amount of money")
    return result.quantize(MONEY_STEP)


class PlainDecimal(Decimal):
    """A Decimal that prints in positional notation (`str` of 1E-8 is 0.00000001),
    so JSON, which renders decimals with `str`, never shows an exponent."""

    __slots__ = ()

    def __str__(self) -> str:
        return format(self, "f")


def plain(value: Decimal | None) -> Decimal | None:
    """The same number without trailing zeros or exponent (189.5000 -> 189.5, 0E-8 -> 0),
    so JSON shows what a person would write; the value is unchanged."""
    if value is None:
        return None
    return PlainDecimal(value.normalize()) if value else PlainDecimal(0)
