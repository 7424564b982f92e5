"""The composition root of one tickerdesk process with in-process adapters
(`tickerdesk up`, and the tests): PostgreSQL for the truth, an in-process event
bus fed by the outbox relay, the simulated venue and its price feed."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog

from .adapters.postgres.commands import Commands
from .adapters.postgres.db import create_pool, migrate, seed_instruments
from .adapters.postgres.outbox import Inbox, OutboxRelay
from .adapters.postgres.reads import Reads
from .adapters.price_book import MemoryPriceBook
from .adapters.venue_sim import SimVenue
from .config import Settings
from .domain.instruments import Instrument
from .workers.executions import ExecutionApplier
from .workers.notifier import Notifier
from .workers.venue_gateway import VenueGateway, venue_order_from_order

log = structlog.get_logger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    settings: Settings
    pool: asyncpg.Pool
    commands: Commands
    reads: Reads
    instruments: dict[str, Instrument]
    prices: MemoryPriceBook
    venue: SimVenue
    relay: OutboxRelay
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    @classmethod
    async def open(cls, settings: Settings, database_url: str) -> Runtime:
        await migrate(database_url)
        pool = await create_pool(database_url, settings.database_pool_size)
        await seed_instruments(pool)
        reads = Reads(pool)
        instruments, last_prices = await reads.instruments()
        prices = MemoryPriceBook(last_prices)
        relay_box: list[OutboxRelay] = []
        commands = Commands(pool, on_commit=lambda: relay_box[0].wake())
        applier = ExecutionApplier(commands)
        venue = SimVenue(prices, applier.on_report, on_prices=None)
        gateway, notifier = VenueGateway(venue), Notifier(Inbox(pool))

        async def publish(events: list[dict[str, Any]]) -> None:
            await notifier.handle(events)
            await gateway.handle(events)

        relay = OutboxRelay(pool, publish)
        relay_box.append(relay)
        runtime = cls(settings, pool, commands, reads, instruments, prices, venue, relay)
        venue._on_prices = runtime._save_prices
        return runtime

    async def start(self) -> None:
        """Tell the (memoryless) simulated venue about open orders, then run the loops."""
        await self.relay.drain()
        for order in await self.reads.open_orders():
            await self.venue.submit(venue_order_from_order(order))
            if order.cancel_requested:
                await self.venue.cancel(order.trade_id, order.user_id, order.symbol)
        self.tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay"))
        if self.settings.price_walk_seconds > 0:
            self.tasks.append(
                asyncio.create_task(
                    self.venue.run_walk(self.settings.price_walk_seconds, self.settings.price_walk_volatility),
                    name="price-walk",
                )
            )

    async def settle(self) -> None:
        """Relay until nothing is left: every committed event has had its effects."""
        for _ in range(1000):
            await self.relay.drain()
            if not await self.pool.fetchval("SELECT EXISTS (SELECT 1 FROM outbox)"):
                return
        raise RuntimeError("the outbox did not drain")

    def _save_prices(self, changes: dict) -> None:
        task = asyncio.get_running_loop().create_task(self.reads.save_prices(changes))
        self.tasks.append(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[Any]) -> None:
        with contextlib.suppress(ValueError):
            self.tasks.remove(task)
        if not task.cancelled() and task.exception():
            log.warning("price save failed", error=str(task.exception()))

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.pool.close()
