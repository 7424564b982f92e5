"""Request bodies. Money is parsed as `Decimal` (see jsonio) and checked by the
domain's money rules; quantities must be JSON integers."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Header
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, model_validator

from tickerdesk.domain.money import MAX_AMOUNT, MAX_PRICE, checked_money, checked_quantity
from tickerdesk.domain.orders import OrderRequest, OrderType, Side, TimeInForce

KEY_PATTERN = r"^[A-Za-z0-9._:\-]{1,64}$"
# The header that makes a retry safe, on placements and on funding alike: what it keys is
# stored and indexed, so it is bounded like clientOrderId.
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", pattern=KEY_PATTERN)]


DECIMAL_STRING = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def _decimal(value: Any) -> Decimal:
    """Accept a JSON number or a plain decimal string ("189.50"); never a boolean."""
    if isinstance(value, str) and DECIMAL_STRING.fullmatch(value.strip()):
        return Decimal(value.strip())
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise ValueError("must be a number or a decimal string such as \"189.50\"")
    return Decimal(value)


def _price(value: Any) -> Decimal:
    return checked_money(_decimal(value), field="price", maximum=MAX_PRICE)


def _amount(value: Any) -> Decimal:
    return checked_money(_decimal(value), field="amount", maximum=MAX_AMOUNT)


def _quantity(value: Any) -> int:
    return checked_quantity(value)


Price = Annotated[Decimal, BeforeValidator(_price)]
Amount = Annotated[Decimal, BeforeValidator(_amount)]
Quantity = Annotated[int, BeforeValidator(_quantity)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=False, str_strip_whitespace=True)


class PlaceOrderIn(Strict):
    stock_symbol: str = Field(alias="stockSymbol", min_length=1, max_length=12)
    quantity: Quantity
    trade_type: Side = Field(alias="tradeType")
    order_type: OrderType | None = Field(None, alias="orderType")  # default: limit if priced
    limit_price: Price | None = Field(None, alias="limitPrice")
    price_per_share: Price | None = Field(None, alias="pricePerShare")  # the seed's name for it
    time_in_force: TimeInForce = Field(TimeInForce.DAY, alias="timeInForce")
    client_order_id: str | None = Field(None, alias="clientOrderId", pattern=KEY_PATTERN)

    @model_validator(mode="after")
    def _one_price(self) -> PlaceOrderIn:
        both = self.limit_price is not None and self.price_per_share is not None
        if both and self.limit_price != self.price_per_share:
            raise ValueError("limitPrice and pricePerShare disagree")
        return self

    def to_request(self) -> OrderRequest:
        price = self.limit_price if self.limit_price is not None else self.price_per_share
        order_type = self.order_type or (OrderType.LIMIT if price is not None else OrderType.MARKET)
        return OrderRequest(
            symbol=self.stock_symbol.upper(),
            side=self.trade_type,
            order_type=order_type,
            quantity=self.quantity,
            limit_price=price,
            time_in_force=self.time_in_force,
            client_order_id=self.client_order_id,
        )


class FundingIn(Strict):
    user_id: str = Field(alias="userId", min_length=1, max_length=128)
    amount: Amount
    reference: str | None = Field(None, pattern=KEY_PATTERN)


class SimPriceIn(Strict):
    price: Price
    liquidity: StrictInt | None = Field(None, gt=0, le=1_000_000_000)
