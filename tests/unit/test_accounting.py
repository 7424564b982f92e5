"""Balances, ledger entries and positions (weighted average cost)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tickerdesk.domain.accounting import (
    LEDGER_DELTAS,
    Balance,
    LedgerEntry,
    LedgerKind,
    Position,
    nonzero,
)
from tickerdesk.domain.errors import InsufficientFunds, InsufficientShares
from tickerdesk.domain.money import ZERO

D = Decimal
START = Balance(available=D("1000"), held=D("500"))


def entry(kind: LedgerKind, amount: str) -> LedgerEntry:
    return LedgerEntry(kind, D(amount))


# --- Balance.post ------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, available, held",
    [
        (LedgerKind.DEPOSIT, "1100", "500"),
        (LedgerKind.WITHDRAWAL, "900", "500"),
        (LedgerKind.HOLD, "900", "600"),
        (LedgerKind.RELEASE, "1100", "400"),
        (LedgerKind.BUY, "1000", "400"),
        (LedgerKind.SELL, "1100", "500"),
    ],
)
def test_each_ledger_kind_moves_available_and_held_in_its_direction(kind, available, held):
    after = START.post(entry(kind, "100"))
    assert (after.available, after.held) == (D(available), D(held))


def test_every_ledger_kind_has_a_direction():
    assert set(LEDGER_DELTAS) == set(LedgerKind)


def test_only_deposits_withdrawals_buys_and_sells_change_the_total():
    for kind in (LedgerKind.HOLD, LedgerKind.RELEASE):
        assert START.post(entry(kind, "100")).total == START.total
    assert START.post(entry(LedgerKind.DEPOSIT, "100")).total == START.total + 100
    assert START.post(entry(LedgerKind.SELL, "100")).total == START.total + 100
    assert START.post(entry(LedgerKind.WITHDRAWAL, "100")).total == START.total - 100
    assert START.post(entry(LedgerKind.BUY, "100")).total == START.total - 100


def test_post_applies_several_entries_in_one_call():
    after = Balance().post(
        entry(LedgerKind.DEPOSIT, "1000"),
        entry(LedgerKind.HOLD, "400"),
        entry(LedgerKind.BUY, "390"),
        entry(LedgerKind.RELEASE, "10"),
    )
    assert after == Balance(D("610"), D("0"))


def test_post_does_not_mutate_the_original_balance():
    START.post(entry(LedgerKind.DEPOSIT, "1"))
    assert Balance(D("1000"), D("500")) == START


@pytest.mark.parametrize("kind", [LedgerKind.WITHDRAWAL, LedgerKind.HOLD])
def test_post_refuses_to_take_available_below_zero(kind):
    with pytest.raises(InsufficientFunds):
        START.post(entry(kind, "1000.0001"))


def test_post_allows_available_to_reach_exactly_zero():
    assert START.post(entry(LedgerKind.HOLD, "1000")).available == ZERO


@pytest.mark.parametrize("kind", [LedgerKind.RELEASE, LedgerKind.BUY])
def test_post_refuses_to_take_held_below_zero(kind):
    with pytest.raises(ValueError, match="held"):
        START.post(entry(kind, "500.0001"))


def test_nonzero_drops_zero_amount_entries():
    kept = nonzero(entry(LedgerKind.BUY, "100"), entry(LedgerKind.RELEASE, "0"), entry(LedgerKind.RELEASE, "0.0000"))
    assert [e.kind for e in kept] == [LedgerKind.BUY]


# --- Position ----------------------------------------------------------------


def test_buying_more_moves_the_average_to_the_weighted_average_cost():
    position = Position("AAPL").bought(10, D("100")).bought(5, D("103"))
    assert position.quantity == 15
    assert position.average_price == D("101")


def test_the_first_buy_sets_the_average_to_its_price():
    assert Position("AAPL").bought(3, D("189.5")).average_price == D("189.5")


def test_a_weighted_average_is_rounded_to_eight_places():
    position = Position("AAPL").bought(1, D("1")).bought(2, D("2"))
    assert position.average_price == D("1.66666667")


def test_selling_leaves_the_average_unchanged_and_books_realized_pnl():
    position = Position("AAPL").bought(10, D("100")).bought(5, D("103")).hold(6)
    sold = position.sold(6, D("110"))
    assert sold.quantity == 9
    assert sold.held_quantity == 0
    assert sold.average_price == D("101")
    assert sold.realized_pnl == 6 * (D("110") - D("101")) == D("54")


def test_selling_below_the_average_books_a_realized_loss():
    sold = Position("AAPL").bought(10, D("100")).hold(4).sold(4, D("90"))
    assert sold.realized_pnl == D("-40")


def test_selling_everything_resets_the_average_to_zero_and_keeps_the_pnl():
    sold = Position("AAPL").bought(10, D("100")).hold(10).sold(10, D("105"))
    assert sold.quantity == 0
    assert sold.average_price == ZERO
    assert sold.realized_pnl == D("50")


def test_buying_again_after_selling_out_starts_a_fresh_average():
    position = Position("AAPL").bought(10, D("100")).hold(10).sold(10, D("105")).bought(2, D("50"))
    assert position.average_price == D("50")


def test_holding_more_than_the_free_shares_raises_insufficient_shares():
    position = Position("AAPL").bought(10, D("100")).hold(7)
    with pytest.raises(InsufficientShares, match="4 AAPL shares are needed and 3 are free to sell"):
        position.hold(4)
    assert position.hold(3).held_quantity == 10


def test_holding_shares_of_an_empty_position_raises_insufficient_shares():
    with pytest.raises(InsufficientShares):
        Position("AAPL").hold(1)


def test_selling_more_than_the_held_shares_raises_insufficient_shares():
    position = Position("AAPL").bought(10, D("100")).hold(2)
    with pytest.raises(InsufficientShares, match="only 2"):
        position.sold(3, D("100"))


def test_releasing_held_shares_frees_them_without_changing_the_quantity():
    position = Position("AAPL").bought(10, D("100")).hold(6).released(4)
    assert position.held_quantity == 2
    assert position.quantity == 10
    assert position.hold(8).held_quantity == 10
