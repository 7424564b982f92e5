"""Request bodies: exact JSON parsing (parse_json) and schema validation."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from pydantic import ValidationError

from tickerdesk.domain.errors import InvalidRequest
from tickerdesk.domain.orders import OrderType, Side, TimeInForce
from tickerdesk.entrypoints.http.jsonio import parse_json
from tickerdesk.entrypoints.http.refusals import InvalidField, MalformedBody
from tickerdesk.entrypoints.http.schemas import FundingIn, PlaceOrderIn, SimPriceIn

BASE_ORDER = {"stockSymbol": '"AAPL"', "tradeType": '"buy"'}


def order_body(**fields: str) -> bytes:
    """A PlaceOrderIn body; each value is raw JSON text, so 189.5 stays a JSON number. A
    field given replaces the base's: parse_json refuses a key sent twice."""
    parts = [f'"{key}": {raw}' for key, raw in {**BASE_ORDER, **fields}.items()]
    return ("{" + ", ".join(parts) + "}").encode()


def place(raw: bytes) -> PlaceOrderIn:
    return PlaceOrderIn.model_validate(parse_json(raw))


def error_fields(error: ValidationError) -> set[str]:
    return {".".join(str(p) for p in e["loc"]) for e in error.errors()}


# --- parse_json --------------------------------------------------------------


def test_parse_json_reads_numbers_as_exact_decimals_not_floats():
    data = parse_json(b'{"a": 0.10000000000000001, "b": 189.5, "c": 10}')
    assert data["a"] == Decimal("0.10000000000000001")
    assert data["a"] != Decimal("0.1")
    assert isinstance(data["b"], Decimal) and data["b"] == Decimal("189.5")
    assert data["c"] == 10 and type(data["c"]) is int


def test_parse_json_keeps_huge_exponents_as_decimals():
    assert parse_json(b"1e400") == Decimal("1E+400")


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b'{"limitPrice": NaN}', b"[Infinity]"])
def test_parse_json_refuses_nan_and_infinity_literals(literal):
    with pytest.raises(MalformedBody, match="not valid JSON"):
        parse_json(literal)


@pytest.mark.parametrize("raw", [b"", b"{", b"{'a': 1}", b"[1,]", b"\xff\xfe"])
def test_parse_json_turns_malformed_bodies_into_a_malformed_body_refusal(raw):
    with pytest.raises(MalformedBody):
        parse_json(raw)


@pytest.mark.parametrize(("raw", "key"), [
    (b'{"quantity": 1, "quantity": 5}', "quantity"),
    (b'{"a": {"b": 1, "c": 2, "b": 1}}', "b"),
    (b'[{"x": 1}, {"y": 1, "y": 1}]', "y"),
])
def test_parse_json_refuses_an_object_that_repeats_a_key(raw, key):
    with pytest.raises(MalformedBody, match=f"repeats the key {key!r}"):
        parse_json(raw)


@pytest.mark.parametrize(("raw", "field"), [
    (b'{"userId": "a\\u0000b"}', "userId"),
    (b'{"userId": "\\ud800"}', "userId"),
    (b'{"eventTypes": ["trade.placed", "\\udfff"]}', "eventTypes.1"),
    (b'{"a": {"\\u0000": 1}}', "a.\x00"),
    (b'"\\u0000"', "body"),
])
def test_parse_json_refuses_text_postgresql_cannot_hold_naming_its_field(raw, field):
    with pytest.raises(InvalidField) as refused:
        parse_json(raw)
    assert refused.value.errors[0]["field"] == field


def test_parse_json_accepts_text_postgresql_holds():
    assert parse_json('{"userId": "\u00e9\U0001f600\ufffd"}'.encode()) == {"userId": "\u00e9\U0001f600\ufffd"}


def test_parse_json_turns_excessive_nesting_into_a_malformed_body_refusal():
    with pytest.raises(MalformedBody):
        parse_json(b"[" * 100_000 + b"]" * 100_000)


# --- PlaceOrderIn: quantity --------------------------------------------------


@pytest.mark.parametrize(
    "raw", ['"10"', "10.5", "10.0", "1e1", "true", "false", "null", "0", "-1", str(10**30), "1000001"]
)
def test_place_order_refuses_a_quantity_that_is_not_a_whole_positive_json_integer_in_range(raw):
    with pytest.raises(ValidationError) as caught:
        place(order_body(quantity=raw, limitPrice="189.5"))
    assert error_fields(caught.value) == {"quantity"}


def test_place_order_requires_a_quantity():
    with pytest.raises(ValidationError) as caught:
        place(order_body(limitPrice="189.5"))
    assert "quantity" in error_fields(caught.value)


def test_place_order_accepts_a_whole_quantity_up_to_the_maximum():
    assert place(order_body(quantity="1000000", limitPrice="1")).quantity == 1_000_000


# --- PlaceOrderIn: limitPrice ------------------------------------------------


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity"])
def test_place_order_body_with_a_nan_or_infinite_limit_price_is_not_valid_json(raw):
    with pytest.raises(MalformedBody, match="not valid JSON"):
        place(order_body(quantity="10", limitPrice=raw))


@pytest.mark.parametrize(
    "raw",
    ["1e-5", "189.12345", "-1", "0", "0.0", "true", "false", "1e400", "1000000.0001", '"abc"', '"NaN"',
     '"Infinity"', '"sNaN"', '""', "[1]", '{"v": 1}', "0.10000000000000001"],
)
def test_place_order_refuses_a_limit_price_that_is_not_a_positive_four_decimal_amount(raw):
    with pytest.raises(ValidationError) as caught:
        place(order_body(quantity="10", limitPrice=raw))
    assert error_fields(caught.value) == {"limitPrice"}


def test_a_price_one_part_in_ten_to_the_seventeen_off_is_refused_not_rounded_to_0_1():
    data = parse_json(order_body(quantity="10", limitPrice="0.10000000000000001"))
    assert data["limitPrice"] == Decimal("0.10000000000000001")
    assert len(data["limitPrice"].as_tuple().digits) == 17
    with pytest.raises(ValidationError, match="decimal places"):
        PlaceOrderIn.model_validate(data)


def test_place_order_accepts_189_5_as_exactly_the_decimal_189_5():
    order = place(order_body(quantity="10", limitPrice="189.5"))
    assert isinstance(order.limit_price, Decimal)
    assert order.limit_price == Decimal("189.5")
    assert order.to_request().limit_price == Decimal("189.5")


@pytest.mark.parametrize("raw", ['"189.50"', '" 189.50 "', '"189.5"'])
def test_place_order_accepts_a_limit_price_written_as_a_decimal_string(raw):
    assert place(order_body(quantity="10", limitPrice=raw)).limit_price == Decimal("189.5")


@pytest.mark.parametrize("raw", ["1E+2", "1e2", "100", "100.00000"])
def test_place_order_reads_1e2_and_other_notations_of_one_hundred_as_100(raw):
    assert place(order_body(quantity="10", limitPrice=raw)).limit_price == Decimal(100)


@pytest.mark.parametrize("raw", ['"1_000"', '"\\u0661\\u0660\\u0660"'])
def test_place_order_refuses_a_price_string_that_is_not_plain_decimal_notation(raw):
    with pytest.raises(ValidationError):
        place(order_body(quantity="10", limitPrice=raw))


# --- PlaceOrderIn: shape -----------------------------------------------------


@pytest.mark.parametrize("extra", ['"userId": "u-2"', '"limit_price": 1', '"price": 1', '"stock_symbol": "AAPL"'])
def test_place_order_refuses_unknown_fields(extra):
    raw = order_body(quantity="10", limitPrice="189.5")[:-1] + b", " + extra.encode() + b"}"
    with pytest.raises(ValidationError, match=r"[Ee]xtra"):
        place(raw)


def test_price_per_share_is_a_synonym_for_limit_price():
    order = place(order_body(quantity="10", pricePerShare="189.5"))
    request = order.to_request()
    assert request.limit_price == Decimal("189.5")
    assert request.order_type is OrderType.LIMIT


def test_price_per_share_is_checked_like_a_limit_price():
    with pytest.raises(ValidationError) as caught:
        place(order_body(quantity="10", pricePerShare="189.12345"))
    assert error_fields(caught.value) == {"pricePerShare"}


def test_limit_price_and_price_per_share_may_agree_but_not_disagree():
    agreeing = place(order_body(quantity="10", limitPrice="189.5", pricePerShare='"189.50"'))
    assert agreeing.to_request().limit_price == Decimal("189.5")
    with pytest.raises(ValidationError, match="disagree"):
        place(order_body(quantity="10", limitPrice="189.5", pricePerShare="189.6"))


def test_the_order_type_defaults_to_limit_when_a_price_is_given():
    assert place(order_body(quantity="10", limitPrice="189.5")).to_request().order_type is OrderType.LIMIT


def test_the_order_type_defaults_to_market_when_no_price_is_given():
    request = place(order_body(quantity="10")).to_request()
    assert request.order_type is OrderType.MARKET
    assert request.limit_price is None


def test_an_explicit_market_order_with_a_price_is_refused_when_built():
    order = place(order_body(quantity="10", limitPrice="189.5", orderType='"market"'))
    with pytest.raises(InvalidRequest):
        order.to_request()


def test_an_explicit_limit_order_without_a_price_is_refused_when_built():
    order = place(order_body(quantity="10", orderType='"limit"'))
    with pytest.raises(InvalidRequest):
        order.to_request()


@pytest.mark.parametrize("symbol, expected", [("aapl", "AAPL"), ("  msft ", "MSFT"), ("Brk.b", "BRK.B")])
def test_the_stock_symbol_is_upper_cased(symbol, expected):
    raw = json.dumps({"stockSymbol": symbol, "tradeType": "sell", "quantity": 1}).encode()
    request = place(raw).to_request()
    assert request.symbol == expected
    assert request.side is Side.SELL


@pytest.mark.parametrize("symbol", ["", "   ", "ABCDEFGHIJKLM"])
def test_the_stock_symbol_must_be_1_to_12_characters(symbol):
    raw = json.dumps({"stockSymbol": symbol, "tradeType": "buy", "quantity": 1}).encode()
    with pytest.raises(ValidationError):
        place(raw)


@pytest.mark.parametrize("field, raw", [("tradeType", '"hold"'), ("orderType", '"stop"'), ("timeInForce", '"forever"')])
def test_enumerated_fields_refuse_values_outside_their_enum(field, raw):
    with pytest.raises(ValidationError) as caught:
        place(order_body(quantity="10", **{field: raw}))
    assert error_fields(caught.value) == {field}


def test_time_in_force_defaults_to_day_and_accepts_the_others():
    assert place(order_body(quantity="1")).to_request().time_in_force is TimeInForce.DAY
    assert place(order_body(quantity="1", timeInForce='"ioc"')).to_request().time_in_force is TimeInForce.IOC


@pytest.mark.parametrize("key", ["abc-123", "A.b_c:d-e", "x" * 64, "0"])
def test_a_client_order_id_matching_the_key_pattern_is_accepted(key):
    order = place(order_body(quantity="1", clientOrderId=json.dumps(key)))
    assert order.to_request().client_order_id == key


@pytest.mark.parametrize("key", ["", "x" * 65, "has space", "slash/no", "emoji-\u2603", "semi;colon", "a\nb"])
def test_a_client_order_id_outside_the_key_pattern_is_refused(key):
    with pytest.raises(ValidationError) as caught:
        place(order_body(quantity="1", clientOrderId=json.dumps(key)))
    assert error_fields(caught.value) == {"clientOrderId"}


# --- FundingIn ---------------------------------------------------------------


def funding(raw: str) -> FundingIn:
    return FundingIn.model_validate(parse_json(raw.encode()))


def test_funding_accepts_an_exact_amount_and_a_reference():
    body = funding('{"userId": "u-1", "amount": 1000000000000, "reference": "dep-1"}')
    assert body.amount == Decimal("1000000000000")
    assert body.reference == "dep-1"


@pytest.mark.parametrize("raw", ["0", "-5", "0.00001", "1000000000000.0001", "true", '"ten"', "1e13"])
def test_funding_refuses_an_amount_that_is_not_a_positive_four_decimal_amount_within_the_maximum(raw):
    with pytest.raises(ValidationError) as caught:
        funding('{"userId": "u-1", "amount": ' + raw + "}")
    assert error_fields(caught.value) == {"amount"}


def test_funding_refuses_unknown_fields_and_needs_a_user():
    with pytest.raises(ValidationError):
        funding('{"userId": "u-1", "amount": 1, "currency": "USD"}')
    with pytest.raises(ValidationError):
        funding('{"amount": 1}')
    with pytest.raises(ValidationError):
        funding('{"userId": "", "amount": 1}')


def test_funding_refuses_a_reference_outside_the_key_pattern():
    with pytest.raises(ValidationError) as caught:
        funding('{"userId": "u-1", "amount": 1, "reference": "not ok"}')
    assert error_fields(caught.value) == {"reference"}


# --- SimPriceIn --------------------------------------------------------------


def sim(raw: str) -> SimPriceIn:
    return SimPriceIn.model_validate(parse_json(raw.encode()))


def test_sim_price_accepts_a_price_and_an_optional_liquidity():
    body = sim('{"price": 189.5, "liquidity": 100}')
    assert body.price == Decimal("189.5")
    assert body.liquidity == 100
    assert sim('{"price": 1E+2}').liquidity is None


@pytest.mark.parametrize("raw", ["0", "-1", "189.12345", "1000000.0001", "true"])
def test_sim_price_refuses_an_invalid_price(raw):
    with pytest.raises(ValidationError):
        sim('{"price": ' + raw + "}")


@pytest.mark.parametrize("raw", ["0", "-1", "true", "1.5", '"5"', "1000000001"])
def test_sim_price_refuses_a_liquidity_that_is_not_a_positive_integer_in_range(raw):
    with pytest.raises(ValidationError) as caught:
        sim('{"price": 1, "liquidity": ' + raw + "}")
    assert error_fields(caught.value) == {"liquidity"}


def test_sim_price_refuses_unknown_fields():
    with pytest.raises(ValidationError):
        sim('{"price": 1, "symbol": "AAPL"}')
