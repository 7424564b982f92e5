"""`POST /sim/session/close` ends the trading day by time: every `day` order accepted
before the close expires, also one that reaches the venue after it; orders accepted
after it belong to the next day. The race is made deterministic by placing an order
with a clock set before the close and letting it reach the venue only afterwards."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import aio_pika
import pytest

from tests.conftest import ADMIN
from tickerdesk.adapters.memory.clock import FixedClock
from tickerdesk.adapters.memory.price_book import MemoryPriceBook
from tickerdesk.adapters.rabbitmq.broker import CONSUMERS, Broker
from tickerdesk.adapters.rabbitmq.venue import BrokerSimControl, BrokerVenue
from tickerdesk.adapters.redis.sim_book import RedisSimState
from tickerdesk.adapters.venue.sim_service import SimVenueService
from tickerdesk.app.place_order import place_order
from tickerdesk.app.ports import VenueOrder
from tickerdesk.domain.orders import OrderRequest, OrderType, Side, TimeInForce

AMQP_URL = os.environ.get("TICKERDESK_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


async def test_a_day_order_accepted_before_the_close_expires_when_it_reaches_the_venue_after_it(
        trader, symbol, client, runtime):
    alice = await trader(10_000)
    stock = await symbol("100")
    before_close = datetime.now(UTC)
    response = await client.post("/sim/session/close", headers=ADMIN)
    assert response.status_code == 200, response.text
    assert datetime.fromisoformat(response.json()["closedAt"]) >= before_close

    # Accepted before the close (its api replica stamped it so), on the venue only now.
    services = runtime.services
    late = await place_order(
        alice.user_id, OrderRequest(stock, Side.BUY, OrderType.LIMIT, 2, D("90"), TimeInForce.DAY), None,
        commands=services.commands, instruments=services.instruments, prices=services.prices,
        clock=FixedClock(before_close - timedelta(milliseconds=1)))
    # Accepted after the close: the next day's.
    next_day = await alice.place(stockSymbol=stock, quantity=1, limitPrice=80, timeInForce="day")

    assert (await alice.trade(late.order.trade_id))["status"] == "expired"
    assert (await alice.trade(next_day["tradeId"]))["status"] == "pending"
    assert await alice.balance() == (D("9920"), D("80"))  # only the next day's order holds


# -- the topology: the venue-sim process, its book in Redis --------------------------------


@pytest.fixture
async def broker():
    instance = f"test-{uuid.uuid4().hex[:10]}"
    broker = await Broker.connect(AMQP_URL, instance)
    await broker.declare()
    yield broker
    async with await aio_pika.connect(AMQP_URL) as connection:
        channel = await connection.channel()
        for name in broker.all_queue_names():
            await channel.queue_delete(name)
        for exchange in ("events", "venue", "prices"):
            await channel.exchange_delete(f"{instance}.{exchange}")
    await broker.close()


async def _reports(broker: Broker, account: str, count: int, timeout: float = 15) -> list[dict]:
    """The first `count` execution reports the venue-sim sent for `account`, read as the
    execution applier reads them."""
    found: list[dict] = []
    done = asyncio.Event()

    async def collect(report: dict) -> None:
        if report["account"] == account:
            found.append(report)
        if len(found) >= count:
            done.set()

    consuming = asyncio.create_task(broker.consume(CONSUMERS["executions"], collect))
    try:
        await asyncio.wait_for(done.wait(), timeout)
    finally:
        consuming.cancel()
        await asyncio.gather(consuming, return_exceptions=True)
    return found


async def test_the_venue_sim_process_keeps_the_close_across_a_restart(broker, redis_prefix, runtime):
    redis, prefix = redis_prefix
    state = RedisSimState(redis, prefix)

    def venue_sim() -> asyncio.Task[None]:
        service = SimVenueService(broker, state, runtime.services.queries, MemoryPriceBook({"AAPL": D("100")}))
        return asyncio.create_task(service.run(0, D(0)))

    running = venue_sim()
    close = datetime.now(UTC)
    await BrokerSimControl(broker).close_session(close)  # answered once the venue-sim saved its book
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    running = venue_sim()  # a restarted venue-sim knows the close from Redis alone
    try:
        account = f"acct-{uuid.uuid4().hex[:8]}"

        def order(trade_id: str, accepted_at: datetime) -> VenueOrder:
            return VenueOrder(trade_id, account, "AAPL", Side.BUY, 1, D("90"), TimeInForce.DAY, accepted_at)

        venue = BrokerVenue(broker)
        await venue.submit(order("late", close - timedelta(milliseconds=1)))
        await venue.submit(order("next-day", close + timedelta(milliseconds=1)))
        await venue.submit(order("late-too", close - timedelta(seconds=5)))
        reports = await _reports(broker, account, 2)
        assert [(r["tradeId"], r["kind"]) for r in reports] == [("late", "expired"), ("late-too", "expired")]
        orders, _, _, closed_at = await state.load()
        assert [o.trade_id for o, _ in orders] == ["next-day"]
        assert closed_at == close
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
