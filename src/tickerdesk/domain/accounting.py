"""Balances, the cash journal and positions: the accounting room.

Every change of cash is a ledger entry whose kind fixes how it moves `available`
and `held`; a balance is the sum of its entries, which is what `tickerdesk verify`
checks. Positions keep weighted average cost: buys move the average, sells leave
it unchanged and book realized P&L.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum

from tickerdesk.domain.errors import InsufficientFunds, InsufficientShares
from tickerdesk.domain.money import ZERO, round_average


class LedgerKind(StrEnum):
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    HOLD = "hold"
    RELEASE = "release"
    BUY = "buy"
    SELL = "sell"


# How one unit of each kind moves (available, held). Mirrored by verify's SQL.
LEDGER_DELTAS: dict[LedgerKind, tuple[int, int]] = {
    LedgerKind.DEPOSIT: (1, 0),
    LedgerKind.WITHDRAWAL: (-1, 0),
    LedgerKind.HOLD: (-1, 1),
    LedgerKind.RELEASE: (1, -1),
    LedgerKind.BUY: (0, -1),
    LedgerKind.SELL: (1, 0),
}


@dataclass(frozen=True)
class LedgerEntry:
    kind: LedgerKind
    amount: Decimal  # always positive; the kind gives the direction
    trade_id: str | None = None


@dataclass(frozen=True)
class FundingInstruction:
    """A deposit or withdrawal as the funding rail sent it, under its reference.

    The rail's reference names one instruction, whoever it is for: the same reference
    with another user, kind or amount is a different instruction, never a retry.
    Amounts compare as numbers (100 and 100.00 are the same instruction)."""

    user_id: str
    kind: LedgerKind
    amount: Decimal


@dataclass(frozen=True)
class Balance:
    available: Decimal = ZERO
    held: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.available + self.held

    def post(self, *entries: LedgerEntry) -> Balance:
        """The balance after `entries`; refuses to go below zero anywhere (the
        database's CHECK constraints refuse the same)."""
        moved_available, moved_held = balance_delta(entries)
        available, held = self.available + moved_available, self.held + moved_held
        if available < 0:
            raise InsufficientFunds.needing(-moved_available, self.available)
        if held < 0:
            raise ValueError("held cash cannot go negative")
        return Balance(available, held)


def balance_delta(entries: Iterable[LedgerEntry]) -> tuple[Decimal, Decimal]:
    """How `entries` move (available, held) together: what a balance gains, and
    what the PostgreSQL adapter adds to the account row in one UPDATE."""
    available = held = ZERO
    for entry in entries:
        da, dh = LEDGER_DELTAS[entry.kind]
        available += da * entry.amount
        held += dh * entry.amount
    return available, held


def nonzero(*entries: LedgerEntry) -> list[LedgerEntry]:
    """Drop zero-amount entries: a limit buy filled at its limit releases nothing."""
    return [e for e in entries if e.amount != 0]


@dataclass(frozen=True)
class Position:
    symbol: str
    quantity: int = 0
    held_quantity: int = 0
    average_price: Decimal = ZERO
    realized_pnl: Decimal = ZERO

    def bought(self, shares: int, price: Decimal) -> Position:
        quantity = self.quantity + shares
        average = round_average((self.quantity * self.average_price + shares * price) / quantity)
        return replace(self, quantity=quantity, average_price=average)

    def hold(self, shares: int) -> Position:
        if self.held_quantity + shares > self.quantity:
            raise InsufficientShares.needing(self.symbol, shares, self.quantity - self.held_quantity)
        return replace(self, held_quantity=self.held_quantity + shares)

    def released(self, shares: int) -> Position:
        return replace(self, held_quantity=self.held_quantity - shares)

    def sold(self, shares: int, price: Decimal) -> Position:
        """Sell held shares: the average stays, the gain over it is realized."""
        if shares > self.held_quantity:
            raise InsufficientShares(f"only {self.held_quantity} {self.symbol} shares are held")
        quantity = self.quantity - shares
        return replace(
            self,
            quantity=quantity,
            held_quantity=self.held_quantity - shares,
            average_price=self.average_price if quantity else ZERO,
            realized_pnl=self.realized_pnl + shares * (price - self.average_price),
        )
