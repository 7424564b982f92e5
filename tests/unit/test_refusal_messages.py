"""A refusal for want of cash or shares says how much is available, in the same sentence
from the in-memory store as from PostgreSQL (tests/integration/test_error_messages.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tickerdesk.app.funding import fund
from tickerdesk.app.place_order import place_order
from tickerdesk.domain.accounting import LedgerKind
from tickerdesk.domain.errors import InsufficientFunds, InsufficientShares
from tickerdesk.domain.orders import OrderRequest, OrderType, Side, TimeInForce

from .fakes import World


async def place(world: World, user: str, side: Side, quantity: int, limit: str) -> None:
    request = OrderRequest("AAPL", side, OrderType.LIMIT, quantity, Decimal(limit), TimeInForce.GTC, None)
    await place_order(user, request, None, commands=world.commands, instruments=world.instruments,
                      prices=world.prices, clock=world.clock)


async def test_a_buy_beyond_the_balance_says_what_is_available():
    world = World()
    await fund("alice", LedgerKind.DEPOSIT, Decimal("1000.5"), None, commands=world.commands, clock=world.clock)
    with pytest.raises(InsufficientFunds) as refused:
        await place(world, "alice", Side.BUY, 10, "150")
    assert refused.value.detail == "1500 is needed and 1000.5 is available"
    with pytest.raises(InsufficientFunds) as refused:
        await place(world, "nobody", Side.BUY, 1, "150")
    assert refused.value.detail == "150 is needed and 0 is available"
    with pytest.raises(InsufficientFunds) as refused:
        await fund("alice", LedgerKind.WITHDRAWAL, Decimal("2000"), None, commands=world.commands, clock=world.clock)
    assert refused.value.detail == "2000 is needed and 1000.5 is available"


async def test_a_sale_beyond_the_free_shares_says_how_many_are_free():
    world = World()
    with pytest.raises(InsufficientShares) as refused:
        await place(world, "alice", Side.SELL, 5, "150")
    assert refused.value.detail == "5 AAPL shares are needed and 0 are free to sell"
