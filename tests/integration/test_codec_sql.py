"""The one event envelope not made by the codec: a placement or a funding
instruction builds its `balance.updated` / `portfolio.updated` inside the SQL
statement (only there is the new balance known). It must be exactly what
`codec.encode_event` makes of the event the store returns."""

from __future__ import annotations

from decimal import Decimal

from tickerdesk.adapters.memory.clock import FixedClock
from tickerdesk.adapters.memory.price_book import MemoryPriceBook
from tickerdesk.adapters.postgres.commands import PgCommandStore
from tickerdesk.adapters.postgres.db import seed_instruments
from tickerdesk.app.funding import fund
from tickerdesk.app.place_order import place_order
from tickerdesk.codec import encode_event
from tickerdesk.domain.accounting import LedgerKind
from tickerdesk.domain.events import BalanceUpdated, Event, PortfolioUpdated
from tickerdesk.domain.instruments import Instrument
from tickerdesk.domain.orders import OrderRequest, OrderType, Side, TimeInForce


async def outbox_payload(pool, event: Event) -> dict:
    return await pool.fetchval("SELECT payload FROM outbox WHERE event_id = $1", event.id)


async def test_the_sql_built_envelopes_equal_the_codecs(scratch_pool):
    await seed_instruments(scratch_pool)
    events: list[Event] = []

    async def record(committed):
        events.extend(committed)

    store, clock = PgCommandStore(scratch_pool, record), FixedClock()
    await fund("codec-user", LedgerKind.DEPOSIT, Decimal("1000.5"), None, commands=store, clock=clock)
    await fund("codec-user", LedgerKind.WITHDRAWAL, Decimal("0.5"), None, commands=store, clock=clock)
    instruments, prices = {"AAPL": Instrument("AAPL", "Apple")}, MemoryPriceBook({"AAPL": Decimal("100")})
    buy = OrderRequest("AAPL", Side.BUY, OrderType.LIMIT, 3, Decimal("99.25"), TimeInForce.GTC)
    await place_order("codec-user", buy, None, commands=store, instruments=instruments, prices=prices, clock=clock)
    await scratch_pool.execute(
        """INSERT INTO positions (user_id, symbol, quantity, held_quantity, average_price, realized_pnl, updated_at)
           VALUES ('codec-user', 'AAPL', 7, 0, 101.12345678, -3.5, now())""")
    sell = OrderRequest("AAPL", Side.SELL, OrderType.MARKET, 2, None, TimeInForce.DAY)
    await place_order("codec-user", sell, None, commands=store, instruments=instruments, prices=prices, clock=clock)

    updates = [e for e in events if isinstance(e, BalanceUpdated | PortfolioUpdated)]
    assert [type(e) for e in updates] == [BalanceUpdated, BalanceUpdated, BalanceUpdated, PortfolioUpdated]
    for event in events:  # the placed events too, which the codec made before the statement
        assert await outbox_payload(scratch_pool, event) == encode_event(event)
    assert updates[-1].position.average_price == Decimal("101.12345678")
