"""`tickerdesk venue-sim`: the simulated venue as a process of its own.

It consumes orders, cancels and simulator commands from the broker, sends execution
reports back (publisher-confirmed before the command is acknowledged), publishes
price ticks to every api replica, and keeps its book in Redis so that a venue
killed mid-burst comes back with its working orders. Report ids are deterministic
(trade id, kind, cumulative quantity), so a command replayed after a crash repeats
reports the execution applier already has, and it ignores them.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import redis.asyncio as aioredis
import structlog

from tickerdesk.adapters.postgres.db import create_pool, dumps, loads
from tickerdesk.adapters.postgres.reads import Reads
from tickerdesk.adapters.memory.price_book import MemoryPriceBook
from tickerdesk.adapters.redis.cache import redis_client
from tickerdesk.adapters.rabbitmq.broker import CONSUMERS, Broker
from tickerdesk.adapters.venue.sim import SimVenue
from tickerdesk.adapters.venue_wire import order_from_wire, order_to_wire, report_to_wire
from tickerdesk.app.ports import ExecutionReport, ReportKind, VenueOrder
from tickerdesk.config import Settings

log = structlog.get_logger(__name__)


class RedisSimState:
    """The simulator's book in Redis: one hash field per working order."""

    def __init__(self, redis: aioredis.Redis, prefix: str):
        self.redis = redis
        self.orders, self.seen, self.liquidity = (f"{prefix}:sim:{k}" for k in ("orders", "seen", "liquidity"))

    async def save(self, changes: dict[str, Any]) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            for trade_id, working in changes["orders"].items():
                if working is None:
                    pipe.hdel(self.orders, trade_id)
                else:
                    pipe.hset(self.orders, trade_id, dumps(order_to_wire(working["order"], working["cumulative"])))
            if changes["orders"]:
                pipe.sadd(self.seen, *changes["orders"])
            pipe.delete(self.liquidity)
            if changes["liquidity"]:
                pipe.hset(self.liquidity, mapping={s: dumps(v) for s, v in changes["liquidity"].items()})
            await pipe.execute()

    async def load(self) -> tuple[list[tuple[VenueOrder, int]], set[str], dict[str, int | None]]:
        orders = [loads(v) for v in (await self.redis.hgetall(self.orders)).values()]
        seen = {s.decode() for s in await self.redis.smembers(self.seen)}
        liquidity = {k.decode(): loads(v) for k, v in (await self.redis.hgetall(self.liquidity)).items()}
        return [(order_from_wire(o), int(o["cumulative"])) for o in orders], seen, liquidity


async def run_venue_sim(settings: Settings) -> None:
    broker = await Broker.connect(settings.amqp_url, settings.instance, settings.consumer_shards)
    pool = await create_pool(settings.database_url, 2)
    reads = Reads(pool)
    redis = redis_client(settings.redis_url)
    state = RedisSimState(redis, settings.instance)
    _, last_prices = await reads.instruments()
    prices = MemoryPriceBook(last_prices)

    async def send(report: ExecutionReport) -> None:
        if report.kind is ReportKind.NEW:
            return  # an acknowledgement tickerdesk has no use for: orders are pending from placement
        await broker.publish_report(report_to_wire(report))

    def on_prices(changes: dict[str, Decimal]) -> None:
        asyncio.get_running_loop().create_task(_ticks(changes))

    async def _ticks(changes: dict[str, Decimal]) -> None:
        try:
            await broker.publish_price_ticks(changes)
            await reads.save_prices(changes)
        except Exception:
            log.exception("price tick not published")

    venue = SimVenue(prices, send, on_prices=on_prices)
    venue.restore(*(await state.load()))
    log.info("venue-sim ready", working_orders=venue.working_orders())

    async def handle(command: dict[str, Any]) -> None:
        kind = command["command"]
        if kind == "submit":
            await venue.submit(order_from_wire(command["order"]))
        elif kind == "cancel":
            await venue.cancel(command["tradeId"], command["account"], command["symbol"])
        elif kind == "set_price":
            liquidity = command.get("liquidity")
            await venue.set_price(command["symbol"], Decimal(command["price"]), int(liquidity) if liquidity else None)
        elif kind == "close_session":
            await venue.close_session()
        else:
            log.warning("unknown venue command", command=kind)
        await state.save(venue.drain_changes())
        if command.get("replyTo"):
            await broker.publish_reply(command["replyTo"], command["correlationId"], {"ok": True})

    async def walk() -> None:
        while True:
            await asyncio.sleep(settings.price_walk_seconds)
            try:
                await venue.walk(settings.price_walk_volatility)
                await state.save(venue.drain_changes())
            except Exception:
                log.exception("price walk failed")

    tasks = [asyncio.create_task(broker.consume(CONSUMERS["venue-sim"], handle))]
    if settings.price_walk_seconds > 0:
        tasks.append(asyncio.create_task(walk()))
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await broker.close()
        await pool.close()
        await redis.aclose()

