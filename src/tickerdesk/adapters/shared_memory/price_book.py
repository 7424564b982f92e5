"""The last prices, in shared memory: the core's simulated feed writes them, and every
worker of `tickerdesk up --workers N` reads them at once (a market buy's collar, the
price band, `GET /stocks`, the portfolio's value), with no message to wait for.

A table of slots (symbol hash, price in ten-thousandths; 0: no price), found by linear
probing. Prices carry at most 4 decimal places, so the integer is exact, and one
aligned 64-bit word is written and read whole. Only the core writes.
"""

from __future__ import annotations

from decimal import Decimal

from tickerdesk.adapters.shared_memory.tables import Segment, key_hash
from tickerdesk.domain.money import MONEY_PLACES


class SharedPriceBook:
    def __init__(self, segment: Segment, prices: dict[str, Decimal] | None = None):
        """`prices`: the writer's starting prices; a reader passes none."""
        self._words = segment.as_words()  # pairs of words: symbol hash, price
        self._slots = len(self._words) // 2
        self._set: dict[str, Decimal] = {}  # what this process wrote: the writer's snapshot
        for symbol, price in (prices or {}).items():
            self.set(symbol, price)

    def _index(self, symbol: str, *, insert: bool = False) -> int | None:
        wanted = key_hash(symbol)
        start = wanted % self._slots
        for probe in range(self._slots):
            index = (start + probe) % self._slots
            found = self._words[2 * index]
            if found == wanted:
                return index
            if found == 0:
                return index if insert else None
        if insert:
            raise RuntimeError("the shared price table is full")
        return None

    def last(self, symbol: str) -> Decimal | None:
        index = self._index(symbol)
        if index is None:
            return None
        scaled = self._words[2 * index + 1]
        return Decimal(scaled).scaleb(-MONEY_PLACES) if scaled else None

    def set(self, symbol: str, price: Decimal) -> None:
        scaled = price.scaleb(MONEY_PLACES)
        if scaled != scaled.to_integral_value() or not 0 < scaled < 2**63:
            raise ValueError(f"a price must be positive with at most {MONEY_PLACES} decimal places, got {price}")
        index = self._index(symbol, insert=True)
        assert index is not None
        self._words[2 * index + 1] = int(scaled)  # the price before the hash: a reader never sees a slot half made
        self._words[2 * index] = key_hash(symbol)
        self._set[symbol] = price

    def snapshot(self) -> dict[str, Decimal]:
        return dict(self._set)
