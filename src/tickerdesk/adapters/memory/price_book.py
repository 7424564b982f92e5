"""The last price of every instrument, in memory: what market buys collar against
and what the portfolio is valued at. The feed writes it; readers never block."""

from __future__ import annotations

from decimal import Decimal


class MemoryPriceBook:
    def __init__(self, prices: dict[str, Decimal] | None = None):
        self._prices: dict[str, Decimal] = dict(prices or {})

    def last(self, symbol: str) -> Decimal | None:
        return self._prices.get(symbol)

    def set(self, symbol: str, price: Decimal) -> None:
        self._prices[symbol] = price

    def snapshot(self) -> dict[str, Decimal]:
        return dict(self._prices)
