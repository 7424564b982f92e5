"""The use cases, run on fakes of their ports (no database): what each command holds,
moves, refuses and announces."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from tickerdesk.app.apply_execution import apply_execution
from tickerdesk.app.cancel_order import cancel_order
from tickerdesk.app.consumers.notifier import Notifier
from tickerdesk.app.consumers.venue_gateway import VenueGateway
from tickerdesk.app.funding import fund
from tickerdesk.app.place_order import place_order
from tickerdesk.app.ports import ExecutionReport, ReportKind
from tickerdesk.domain.accounting import Balance, LedgerKind, Position
from tickerdesk.domain.errors import (
    IdempotencyConflict,
    InsufficientFunds,
    InsufficientShares,
    InvalidTransition,
    NotCancelable,
    NotFound,
    PriceOutOfBand,
    UnknownSymbol,
)
from tickerdesk.domain.events import (
    BalanceUpdated,
    PortfolioUpdated,
    TradeCanceled,
    TradeCancelRequested,
    TradeExpired,
    TradePartiallyExecuted,
    TradePlaced,
)
from tickerdesk.domain.orders import Order, OrderRequest, OrderType, Side, Status, TimeInForce

from .fakes import MemoryInbox, RecordingHub, RecordingVenue, World

D = Decimal
USER = "alice"


@pytest.fixture
def world() -> World:
    return World()


async def deposit(world: World, amount: str, user: str = USER, reference: str | None = None) -> Balance | None:
    return await fund(user, LedgerKind.DEPOSIT, D(amount), reference, commands=world.commands, clock=world.clock)


async def place(world: World, side: Side = Side.BUY, quantity: int = 10, limit: str | None = "185",
                symbol: str = "AAPL", key: str | None = None, client_id: str | None = None,
                tif: TimeInForce = TimeInForce.GTC) -> Order:
    request = OrderRequest(symbol, side, OrderType.LIMIT if limit else OrderType.MARKET, quantity,
                           D(limit) if limit else None, tif, client_id)
    placement = await place_order(USER, request, key, commands=world.commands, instruments=world.instruments,
                                  prices=world.prices, clock=world.clock)
    return placement.order


def report(order: Order, kind: ReportKind, quantity: int = 0, price: str | None = None,
           execution_id: str | None = None) -> ExecutionReport:
    return ExecutionReport(execution_id or f"{order.trade_id}.{kind}.{quantity}", order.trade_id, order.user_id,
                           kind, quantity, D(price) if price else None, quantity, order.quantity - quantity,
                           order.created_at)


async def execute(world: World, r: ExecutionReport) -> bool:
    return await apply_execution(r, commands=world.commands, clock=world.clock)


# -- placing ------------------------------------------------------------------------


async def test_a_limit_buy_holds_quantity_times_limit_and_announces_it(world):
    await deposit(world, "10000")
    order = await place(world)
    assert world.commands.balance(USER) == Balance(D("8150"), D("1850"))
    assert order.status is Status.PENDING
    placed, updated = world.outbox[-2:]
    assert isinstance(placed, TradePlaced) and placed.order == order
    assert isinstance(updated, BalanceUpdated) and updated.balance == Balance(D("8150"), D("1850"))


async def test_a_market_buy_holds_at_the_collar_rounded_up(world):
    world.prices.set("AAPL", D("190.0001"))
    await deposit(world, "10000")
    order = await place(world, quantity=3, limit=None)
    assert order.hold_price == D("199.5002")  # 190.0001 x 1.05 = 199.500105, up to the next 0.0001
    assert world.commands.balance(USER).held == 3 * D("199.5002")


async def test_a_buy_the_balance_cannot_cover_changes_nothing(world):
    await deposit(world, "100")
    outbox = list(world.outbox)
    with pytest.raises(InsufficientFunds):
        await place(world, quantity=1, limit="100.0001")
    assert world.commands.balance(USER) == Balance(D("100"))
    assert world.outbox == outbox and not world.commands.books.orders


async def test_a_sell_holds_shares_and_refuses_more_than_are_free(world):
    world.commands.books.positions[(USER, "AAPL")] = Position("AAPL", 5, 0, D("100"))
    await place(world, side=Side.SELL, quantity=3, limit="200")
    assert world.commands.position(USER, "AAPL").held_quantity == 3
    assert isinstance(world.outbox[-1], PortfolioUpdated)
    with pytest.raises(InsufficientShares):
        await place(world, side=Side.SELL, quantity=3, limit="200")
    assert world.commands.position(USER, "AAPL").held_quantity == 3


async def test_an_unknown_symbol_is_refused_before_anything_is_held(world):
    await deposit(world, "1000")
    with pytest.raises(UnknownSymbol):
        await place(world, symbol="NOPE")
    assert world.commands.balance(USER).held == 0


async def test_a_retry_with_the_same_key_returns_the_first_order_and_holds_once(world):
    await deposit(world, "10000")
    first = await place(world, key="k-1")
    request = OrderRequest("AAPL", Side.BUY, OrderType.LIMIT, 10, D("185"), TimeInForce.GTC)
    again = await place_order(USER, request, "k-1", commands=world.commands, instruments=world.instruments,
                              prices=world.prices, clock=world.clock)
    assert again.replayed and again.order.trade_id == first.trade_id
    assert world.commands.balance(USER).held == D("1850")
    with pytest.raises(IdempotencyConflict):
        await place(world, key="k-1", quantity=11)


async def test_a_retry_finds_its_order_even_when_the_money_is_gone(world):
    await deposit(world, "1850")
    first = await place(world, client_id="c-1")
    again = await place(world, client_id="c-1")
    assert again.trade_id == first.trade_id


# -- canceling ------------------------------------------------------------------------


async def test_a_cancel_is_a_request_to_the_venue_and_asking_twice_is_one_request(world):
    await deposit(world, "10000")
    order = await place(world)
    asked = await cancel_order(USER, order.trade_id, commands=world.commands, clock=world.clock)
    assert asked.cancel_requested and asked.status is Status.PENDING
    await cancel_order(USER, order.trade_id, commands=world.commands, clock=world.clock)
    assert sum(isinstance(e, TradeCancelRequested) for e in world.outbox) == 1
    assert world.commands.balance(USER).held == D("1850")  # held until the venue confirms


async def test_only_open_orders_of_ones_own_can_be_canceled(world):
    await deposit(world, "10000")
    order = await place(world)
    with pytest.raises(NotFound):
        await cancel_order("mallory", order.trade_id, commands=world.commands, clock=world.clock)
    await execute(world, report(order, ReportKind.FILL, 10, "185"))
    with pytest.raises(NotCancelable):
        await cancel_order(USER, order.trade_id, commands=world.commands, clock=world.clock)


# -- execution reports -------------------------------------------------------------------


async def test_a_partial_fill_below_the_limit_spends_the_fill_and_releases_the_difference(world):
    await deposit(world, "10000")
    order = await place(world)
    assert await execute(world, report(order, ReportKind.PARTIAL_FILL, 4, "184"))
    assert world.commands.balance(USER) == Balance(D("8154"), D("1110"))  # 736 spent, 4 released
    assert world.commands.position(USER, "AAPL") == Position("AAPL", 4, 0, D("184"))
    filled = world.commands.order(USER, order.trade_id)
    assert filled.status is Status.PARTIALLY_EXECUTED and filled.filled_value == D("736")
    assert isinstance(world.outbox[-3], TradePartiallyExecuted) and world.outbox[-3].last_quantity == 4


async def test_a_repeated_fill_changes_nothing(world):
    await deposit(world, "10000")
    order = await place(world)
    fill = report(order, ReportKind.PARTIAL_FILL, 4, "184")
    assert await execute(world, fill)
    outbox = list(world.outbox)
    assert not await execute(world, fill)
    assert world.commands.balance(USER) == Balance(D("8154"), D("1110")) and world.outbox == outbox


async def test_a_confirmed_cancel_keeps_the_fills_and_releases_the_rest(world):
    await deposit(world, "10000")
    order = await place(world)
    await execute(world, report(order, ReportKind.PARTIAL_FILL, 4, "184"))
    assert await execute(world, report(order, ReportKind.CANCELED))
    assert world.commands.balance(USER) == Balance(D("9264"), D("0"))
    closed = world.commands.order(USER, order.trade_id)
    assert closed.status is Status.CANCELED and closed.filled_quantity == 4
    assert isinstance(world.outbox[-2], TradeCanceled)
    assert not await execute(world, report(order, ReportKind.CANCELED, execution_id="again"))


async def test_an_expired_sell_gives_its_shares_back(world):
    world.commands.books.positions[(USER, "AAPL")] = Position("AAPL", 5, 0, D("100"))
    order = await place(world, side=Side.SELL, quantity=5, limit="200", tif=TimeInForce.DAY)
    await execute(world, report(order, ReportKind.EXPIRED))
    assert world.commands.position(USER, "AAPL").held_quantity == 0
    assert isinstance(world.outbox[-2], TradeExpired)


async def test_a_sell_fill_books_realized_pnl_at_an_unchanged_average(world):
    world.commands.books.positions[(USER, "AAPL")] = Position("AAPL", 10, 0, D("187.6"))
    await deposit(world, "0.0001")
    order = await place(world, side=Side.SELL, quantity=4, limit="195")
    await execute(world, report(order, ReportKind.FILL, 4, "196"))
    assert world.commands.position(USER, "AAPL") == Position("AAPL", 6, 0, D("187.6"), D("33.6"))
    assert world.commands.balance(USER).available == D("784.0001")


async def test_a_rejection_after_fills_cancels_the_rest(world):
    await deposit(world, "10000")
    order = await place(world)
    await execute(world, report(order, ReportKind.PARTIAL_FILL, 4, "185"))
    await execute(world, report(order, ReportKind.REJECTED))
    assert world.commands.order(USER, order.trade_id).status is Status.CANCELED


async def test_an_impossible_fill_is_refused_and_rolls_back_everything(world):
    await deposit(world, "10000")
    order = await place(world)
    before = (world.commands.balance(USER), list(world.outbox), set(world.commands.books.executions))
    with pytest.raises(InvalidTransition):
        await execute(world, report(order, ReportKind.FILL, 10, "185.0001"))  # above the held price
    assert (world.commands.balance(USER), world.outbox, world.commands.books.executions) == before


@pytest.mark.parametrize(("side", "limit"), [(Side.BUY, "18.9999"), (Side.BUY, "1900.0001"),
                                           (Side.SELL, "18.99"), (Side.SELL, "1900.01")])
async def test_a_limit_outside_the_price_band_is_refused_before_any_hold(world, side, limit):
    await deposit(world, "1000000")
    world.commands.books.positions[(USER, "AAPL")] = Position("AAPL", 10)
    with pytest.raises(PriceOutOfBand):
        await place(world, side=side, quantity=1, limit=limit)  # AAPL is at 190
    assert world.commands.balance(USER) == Balance(D("1000000"))
    assert world.commands.position(USER, "AAPL") == Position("AAPL", 10)
    assert not world.commands.books.orders


async def test_limits_at_the_edges_of_the_price_band_are_placed(world):
    await deposit(world, "1000000")
    await place(world, quantity=1, limit="19")
    await place(world, quantity=1, limit="1900")
    assert world.commands.balance(USER).held == D("1919")


# -- funding -------------------------------------------------------------------------------


async def test_a_reference_applies_an_instruction_once(world):
    assert await deposit(world, "100", reference="wire-1") == Balance(D("100"))
    assert await deposit(world, "100", reference="wire-1") is None
    assert world.commands.balance(USER) == Balance(D("100"))


@pytest.mark.parametrize(("user", "kind", "amount"), [
    (USER, LedgerKind.WITHDRAWAL, "60"),  # another kind
    (USER, LedgerKind.DEPOSIT, "5000"),  # another amount
    ("bob", LedgerKind.DEPOSIT, "100"),  # another user: a reference names one instruction on the rail
])
async def test_a_reference_reused_for_another_instruction_is_a_conflict(world, user, kind, amount):
    await deposit(world, "100", reference="wire-42")
    with pytest.raises(IdempotencyConflict):
        await fund(user, kind, D(amount), "wire-42", commands=world.commands, clock=world.clock)
    assert (world.commands.balance(USER), world.commands.balance("bob")) == (Balance(D("100")), Balance())
    assert await deposit(world, "100.00", reference="wire-42") is None  # the same instruction: a replay


async def test_a_withdrawal_retried_after_the_money_is_gone_is_a_replay(world):
    await deposit(world, "100")
    await fund(USER, LedgerKind.WITHDRAWAL, D("100"), "out-1", commands=world.commands, clock=world.clock)
    assert await fund(USER, LedgerKind.WITHDRAWAL, D("100"), "out-1", commands=world.commands,
                      clock=world.clock) is None


async def test_a_withdrawal_never_takes_more_than_is_available(world):
    await deposit(world, "100")
    await place(world, quantity=1, limit="60")
    with pytest.raises(InsufficientFunds):
        await fund(USER, LedgerKind.WITHDRAWAL, D("40.0001"), None, commands=world.commands, clock=world.clock)
    await fund(USER, LedgerKind.WITHDRAWAL, D("40"), None, commands=world.commands, clock=world.clock)
    assert world.commands.balance(USER) == Balance(D("0"), D("60"))


# -- after the commit -------------------------------------------------------------------------


async def test_each_commit_drops_each_changed_users_cache_once_and_wakes_the_relay(world):
    await deposit(world, "10000")
    order = await place(world)
    await execute(world, report(order, ReportKind.FILL, 10, "185"))  # trade, balance and portfolio events
    assert world.cache.invalidated == [USER, USER, USER]  # deposit, placement, fill: once each
    assert world.wakes == 3


async def test_a_cancel_request_changes_no_cached_view(world):
    await deposit(world, "10000")
    order = await place(world)
    invalidated = list(world.cache.invalidated)
    await cancel_order(USER, order.trade_id, commands=world.commands, clock=world.clock)
    assert world.cache.invalidated == invalidated


async def test_a_refused_command_has_no_after_effects(world):
    with pytest.raises(InsufficientFunds):
        await place(world)
    assert world.cache.invalidated == [] and world.wakes == 0


# -- consumers -----------------------------------------------------------------------------------


async def test_the_gateway_sends_the_venue_a_venue_order_never_the_api_view(world):
    await deposit(world, "10000")
    market = await place(world, quantity=2, limit=None)
    venue = RecordingVenue()
    await VenueGateway(venue).handle(world.outbox)
    (sent,) = venue.submitted
    assert sent.trade_id == market.trade_id and sent.limit_price == market.hold_price  # the collar
    await cancel_order(USER, market.trade_id, commands=world.commands, clock=world.clock)
    await VenueGateway(venue).handle(world.outbox[-1:])
    assert venue.canceled == [market.trade_id]


async def test_the_notifier_stores_user_facing_events_once_and_pushes_them(world):
    await deposit(world, "10000")
    order = await place(world)
    await cancel_order(USER, order.trade_id, commands=world.commands, clock=world.clock)
    inbox, hub = MemoryInbox(), RecordingHub()
    await Notifier(inbox, hub).handle(world.outbox)
    await Notifier(inbox, hub).handle(world.outbox)  # redelivered
    assert len(inbox.stored) == 3  # deposit, placed, balance; the cancel request is internal
    assert [n.seq for n in hub.published] == [1, 2, 3, 1, 2, 3]


async def test_a_unit_of_work_that_fails_leaves_the_model_as_it_was(world):
    await deposit(world, "10000")
    order = await place(world)
    with pytest.raises(RuntimeError):
        async with world.commands.unit_of_work() as uow:
            locked = await uow.lock_order(USER, order.trade_id)
            assert locked is not None
            await uow.save_order(replace(locked, cancel_requested=True))
            raise RuntimeError("the transaction fails after the write")
    assert world.commands.order(USER, order.trade_id).cancel_requested is False
