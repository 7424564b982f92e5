"""Instruments: the small reference table every order names."""

from __future__ import annotations

from dataclasses import dataclass

from tickerdesk.domain.errors import UnknownSymbol


@dataclass(frozen=True)
class Instrument:
    symbol: str
    name: str
    lot_size: int = 1
    active: bool = True


def tradable(instruments: dict[str, Instrument], symbol: str) -> Instrument:
    instrument = instruments.get(symbol)
    if instrument is None or not instrument.active:
        raise UnknownSymbol(f"{symbol!r} is not a tradable symbol")
    return instrument
