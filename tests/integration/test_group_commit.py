"""Group commit (adapters/postgres/group_commit.py): placements that arrive together
are written by one statement, and each keeps the outcome it would have had alone:
the same refusals, the same replays, the same balances in its events, the same rows."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from tickerdesk.adapters.memory.clock import FixedClock
from tickerdesk.adapters.memory.price_book import MemoryPriceBook
from tickerdesk.adapters.postgres.commands import PgCommandStore
from tickerdesk.adapters.postgres.db import seed_instruments
from tickerdesk.adapters.postgres.verify import verify
from tickerdesk.app.funding import fund
from tickerdesk.app.place_order import place_order
from tickerdesk.codec import encode_event
from tickerdesk.domain.accounting import LedgerKind
from tickerdesk.domain.errors import IdempotencyConflict, InsufficientFunds, InsufficientShares
from tickerdesk.domain.events import BalanceUpdated, Event, PortfolioUpdated, TradePlaced
from tickerdesk.domain.instruments import Instrument
from tickerdesk.domain.orders import OrderRequest, OrderType, Side, TimeInForce

INSTRUMENTS = {"AAPL": Instrument("AAPL", "Apple"), "MSFT": Instrument("MSFT", "Microsoft")}


def buy(quantity: int, price: str = "10", client_order_id: str | None = None) -> OrderRequest:
    return OrderRequest("AAPL", Side.BUY, OrderType.LIMIT, quantity, Decimal(price), TimeInForce.GTC,
                        client_order_id=client_order_id)


def sell(quantity: int, symbol: str = "AAPL") -> OrderRequest:
    return OrderRequest(symbol, Side.SELL, OrderType.LIMIT, quantity, Decimal("10"), TimeInForce.GTC)


@pytest.fixture
async def store(scratch_pool):
    await seed_instruments(scratch_pool)
    committed: list[list[Event]] = []

    async def record(events):
        committed.append(list(events))

    grouped = PgCommandStore(scratch_pool, record, group_commit=True)
    grouped.committed = committed  # type: ignore[attr-defined]
    return grouped


async def place_all(store, orders, keys=None):
    """Every placement at once, so they queue behind each other and share batches."""
    clock, prices = FixedClock(), MemoryPriceBook({"AAPL": Decimal("10"), "MSFT": Decimal("10")})
    keys = keys or [None] * len(orders)
    return await asyncio.gather(*(
        place_order(user, request, key, commands=store, instruments=INSTRUMENTS, prices=prices, clock=clock)
        for (user, request), key in zip(orders, keys, strict=True)), return_exceptions=True)


async def test_placements_share_statements_and_each_gets_its_own_balance(store, scratch_pool):
    clock = FixedClock()
    for user in ("gc-a", "gc-b"):
        await fund(user, LedgerKind.DEPOSIT, Decimal("10000"), None, commands=store, clock=clock)
    orders = [("gc-a" if i % 2 else "gc-b", buy(1 + i % 5)) for i in range(60)]
    results = await place_all(store, orders)
    assert not [r for r in results if isinstance(r, Exception)]

    batches = [events for events in store.committed if sum(isinstance(e, TradePlaced) for e in events) > 1]
    assert batches, "no two placements shared a commit: group commit never happened"
    for user in ("gc-a", "gc-b"):
        spent = sum(Decimal(10 * request.quantity) for who, request in orders if who == user)
        row = await scratch_pool.fetchrow("SELECT available, held FROM accounts WHERE user_id = $1", user)
        assert (row["available"], row["held"]) == (Decimal("10000") - spent, spent)
        # each placement's balance.updated is the balance right after it: the held amounts of a user's
        # events, in outbox order, step up by exactly each placement's hold, ending at the final balance
        payloads = await scratch_pool.fetch(
            "SELECT payload FROM outbox WHERE user_id = $1 AND type = 'balance.updated' ORDER BY id", user)
        held = [Decimal(str(p["payload"]["data"]["heldForTrades"])) for p in payloads][1:]  # after the deposit
        assert held == sorted(held) and held[-1] == spent and len(set(held)) == len(held) == 30
    for events in store.committed:  # the envelopes written by the batch statement are the codec's
        for event in events:
            payload = await scratch_pool.fetchval("SELECT payload FROM outbox WHERE event_id = $1", event.id)
            assert payload == encode_event(event)
    assert await verify(scratch_pool) == []


async def test_an_account_that_cannot_cover_the_batch_is_refused_exactly_where_alone_it_would_be(store, scratch_pool):
    clock = FixedClock()
    await fund("gc-poor", LedgerKind.DEPOSIT, Decimal("95"), None, commands=store, clock=clock)
    await fund("gc-rich", LedgerKind.DEPOSIT, Decimal("100000"), None, commands=store, clock=clock)
    # 20 placements of 10 each for the poor user: 9 fit (90 <= 95), 11 are refused, whatever the batching;
    # the rich user's placements in the same batches all succeed
    orders = [(("gc-poor" if i % 2 else "gc-rich"), buy(1)) for i in range(40)]
    results = await place_all(store, orders)
    poor = [r for (user, _), r in zip(orders, results, strict=True) if user == "gc-poor"]
    rich = [r for (user, _), r in zip(orders, results, strict=True) if user == "gc-rich"]
    assert sum(isinstance(r, InsufficientFunds) for r in poor) == 11
    assert not [r for r in poor + rich if isinstance(r, Exception) and not isinstance(r, InsufficientFunds)]
    assert not [r for r in rich if isinstance(r, Exception)]
    row = await scratch_pool.fetchrow("SELECT available, held FROM accounts WHERE user_id = 'gc-poor'")
    assert (row["available"], row["held"]) == (Decimal("5"), Decimal("90"))
    assert await scratch_pool.fetchval("SELECT count(*) FROM trades WHERE user_id = 'gc-poor'") == 9
    assert await verify(scratch_pool) == []


async def test_retried_keys_in_a_batch_replay_and_conflicts_are_refused(store, scratch_pool):
    clock = FixedClock()
    await fund("gc-keys", LedgerKind.DEPOSIT, Decimal("100000"), None, commands=store, clock=clock)
    # the same client order id five times at once, among others: one trade, four replays of it
    orders = [("gc-keys", buy(1, client_order_id="same")) for _ in range(5)]
    orders += [("gc-keys", buy(2)) for _ in range(20)]
    orders += [("gc-keys", buy(3, client_order_id="same"))]  # the same id for another order: a conflict
    results = await place_all(store, orders)
    same = results[:5]
    assert not [r for r in same if isinstance(r, Exception)]
    assert len({r.order.trade_id for r in same}) == 1 and sum(not r.replayed for r in same) == 1
    assert not [r for r in results[5:25] if isinstance(r, Exception)]
    assert isinstance(results[25], IdempotencyConflict)
    assert await scratch_pool.fetchval("SELECT count(*) FROM trades WHERE user_id = 'gc-keys'") == 21
    row = await scratch_pool.fetchrow("SELECT held FROM accounts WHERE user_id = 'gc-keys'")
    assert row["held"] == Decimal(10 * 1 + 20 * 2 * 10)
    assert await verify(scratch_pool) == []


async def test_sells_hold_shares_per_position_and_refuse_what_is_not_owned(store, scratch_pool):
    await scratch_pool.execute(
        """INSERT INTO positions (user_id, symbol, quantity, held_quantity, average_price, realized_pnl, updated_at)
           VALUES ('gc-sell', 'AAPL', 10, 0, 9.5, 0, now()), ('gc-sell', 'MSFT', 100, 0, 9.5, 0, now())""")
    orders = [("gc-sell", sell(1, "AAPL")) for _ in range(15)] + [("gc-sell", sell(3, "MSFT")) for _ in range(10)]
    results = await place_all(store, orders)
    assert sum(isinstance(r, InsufficientShares) for r in results[:15]) == 5
    assert not [r for r in results[15:] if isinstance(r, Exception)]
    held = dict(await scratch_pool.fetch("SELECT symbol, held_quantity FROM positions WHERE user_id = 'gc-sell'"))
    assert held == {"AAPL": 10, "MSFT": 30}
    updates = [e for events in store.committed for e in events if isinstance(e, PortfolioUpdated)]
    assert sorted(e.position.held_quantity for e in updates if e.position.symbol == "MSFT") == list(range(3, 31, 3))
    assert all(not isinstance(e, BalanceUpdated) for events in store.committed for e in events)


async def test_batches_of_two_processes_over_the_same_accounts_all_succeed(store, scratch_pool):
    """Two stores (two workers of `up`) write concurrent batches over the same accounts, in
    opposite orders: every placement succeeds and every hold is counted once. (A deadlock
    between batches, which the ordered locks make unlikely and this does not force, would
    send that batch's placements alone.)"""
    clock = FixedClock()
    users = [f"gc-two-{i:02d}" for i in range(30)]
    for user in users:
        await fund(user, LedgerKind.DEPOSIT, Decimal("100000"), None, commands=store, clock=clock)
    other = PgCommandStore(scratch_pool, group_commit=True)
    prices = MemoryPriceBook({"AAPL": Decimal("10"), "MSFT": Decimal("10")})
    placements = []
    for round_ in range(8):
        order = users if round_ % 2 else list(reversed(users))
        for i, user in enumerate(order):
            placements.append(place_order(user, buy(1), None, commands=store if i % 2 else other,
                                          instruments=INSTRUMENTS, prices=prices, clock=clock))
    results = await asyncio.gather(*placements, return_exceptions=True)
    assert [r for r in results if isinstance(r, Exception)] == []
    assert await scratch_pool.fetchval("SELECT count(*) FROM trades WHERE user_id LIKE 'gc-two-%'") == 240
    assert await verify(scratch_pool) == []
