"""Previewing an order on the fakes: the same checks and hold arithmetic as a placement,
and nothing written."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tickerdesk.app.funding import fund
from tickerdesk.app.place_order import place_order
from tickerdesk.app.preview_order import preview_order
from tickerdesk.domain.accounting import Balance, LedgerKind, Position
from tickerdesk.domain.errors import InsufficientFunds, InsufficientShares, PriceOutOfBand, UnknownSymbol
from tickerdesk.domain.orders import OrderRequest, OrderType, Side

from .fakes import World

D = Decimal
USER = "alice"


class StoreQueries:
    """The two reads a preview makes, answered from the in-memory command store."""

    def __init__(self, world: World):
        self.world = world

    async def balance(self, user_id: str) -> Balance:
        return self.world.commands.balance(user_id)

    async def positions(self, user_id: str) -> list[Position]:
        return [p for (u, _), p in self.world.commands.books.positions.items() if u == user_id]


@pytest.fixture
async def world() -> World:
    w = World()
    await fund(USER, LedgerKind.DEPOSIT, D("1000"), None, commands=w.commands, clock=w.clock)
    return w


async def preview(world: World, side: Side, quantity: int, limit: str | None, symbol: str = "AAPL"):
    request = OrderRequest(symbol, side, OrderType.LIMIT if limit else OrderType.MARKET, quantity,
                           D(limit) if limit else None)
    return await preview_order(USER, request, queries=StoreQueries(world),  # type: ignore[arg-type]
                               instruments=world.instruments, prices=world.prices)


async def test_a_limit_buy_previews_its_hold_and_cost_and_writes_nothing(world):
    before = (world.commands.balance(USER), len(world.outbox), dict(world.commands.books.orders))
    result = await preview(world, Side.BUY, 5, "180")
    assert result.ok and result.error is None
    assert (result.hold_amount, result.hold_price, result.estimated_cost, result.available) == (
        D("900"), D("180"), D("900"), D("1000"))
    assert result.held_shares is None
    assert (world.commands.balance(USER), len(world.outbox), dict(world.commands.books.orders)) == before


async def test_a_market_buy_holds_the_collar_and_estimates_at_the_last_price(world):
    result = await preview(world, Side.BUY, 5, None)  # AAPL is at 190: the collar is 199.5
    assert (result.hold_price, result.hold_amount, result.estimated_cost) == (D("199.5"), D("997.5"), D("950"))
    assert result.ok


async def test_a_buy_beyond_the_cash_previews_the_refusal_a_placement_gets(world):
    result = await preview(world, Side.BUY, 6, None)  # 6 x 199.5 = 1197 > 1000
    assert not result.ok and isinstance(result.error, InsufficientFunds)
    with pytest.raises(InsufficientFunds) as placed:
        await place_order(USER, OrderRequest("AAPL", Side.BUY, OrderType.MARKET, 6, None), None,
                          commands=world.commands, instruments=world.instruments, prices=world.prices,
                          clock=world.clock)
    assert result.error.detail == placed.value.detail
    assert result.hold_amount == D("1197")


async def test_a_sell_previews_its_shares_against_the_free_ones(world):
    await place_order(USER, OrderRequest("AAPL", Side.BUY, OrderType.LIMIT, 3, D("190")), None,
                      commands=world.commands, instruments=world.instruments, prices=world.prices, clock=world.clock)
    world.commands.books.positions[(USER, "AAPL")] = Position("AAPL", quantity=3)
    ok = await preview(world, Side.SELL, 3, "200")
    assert ok.ok and (ok.held_shares, ok.available, ok.estimated_cost, ok.hold_amount) == (3, D(3), D("600"), None)
    refused = await preview(world, Side.SELL, 4, "200")
    assert isinstance(refused.error, InsufficientShares)
    assert refused.error.detail == "4 AAPL shares are needed and 3 are free to sell"


async def test_an_unknown_symbol_and_a_fat_finger_are_previewed_as_refusals(world):
    unknown = await preview(world, Side.BUY, 1, "10", symbol="NOPE")
    assert isinstance(unknown.error, UnknownSymbol) and unknown.hold_amount is None
    fat = await preview(world, Side.BUY, 1, "1900.01")  # more than 10x the last price 190
    assert isinstance(fat.error, PriceOutOfBand) and not fat.ok
