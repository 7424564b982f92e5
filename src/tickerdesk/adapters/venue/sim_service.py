"""`tickerdesk venue-sim`: the simulated venue as a process of its own, on the broker.

It consumes orders, cancels and simulator commands, sends execution reports back
(publisher-confirmed before the command is acknowledged), publishes price ticks to
every api replica, and saves its book after every command. Report ids are
deterministic (trade id, kind, cumulative quantity), so a command replayed after a
crash repeats reports the execution applier already has, and it ignores them.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import structlog

from tickerdesk.adapters.rabbitmq.broker import CONSUMERS, Broker
from tickerdesk.adapters.redis.sim_book import RedisSimState
from tickerdesk.adapters.venue.sim import SimPrices, SimVenue
from tickerdesk.app.ports import ExecutionReport, Queries, ReportKind
from tickerdesk.codec import order_from_wire, parse_time, report_to_wire

log = structlog.get_logger(__name__)


class SimVenueService:
    def __init__(self, broker: Broker, state: RedisSimState, queries: Queries, prices: SimPrices):
        self.broker = broker
        self.state = state
        self.queries = queries
        self.venue = SimVenue(prices, self._send, on_prices=self._on_prices)
        self._background: set[asyncio.Task[None]] = set()

    async def _send(self, report: ExecutionReport) -> None:
        if report.kind is ReportKind.NEW:
            return  # an acknowledgement tickerdesk has no use for: orders are pending from placement
        await self.broker.publish_report(report_to_wire(report))

    def _on_prices(self, changes: dict[str, Decimal]) -> None:
        # Stamped now, when the prices changed: the writes may land out of order.
        task = asyncio.get_running_loop().create_task(self._ticks(changes, datetime.now(UTC)))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _ticks(self, changes: dict[str, Decimal], at: datetime) -> None:
        try:
            await self.broker.publish_price_ticks(changes)
            await self.queries.save_prices(changes, at)
        except Exception:
            log.exception("price tick not published")

    async def restore(self) -> None:
        self.venue.restore(*(await self.state.load()))
        log.info("venue-sim ready", working_orders=self.venue.working_orders())

    async def handle(self, command: dict[str, Any]) -> None:
        kind = command["command"]
        venue = self.venue
        if kind == "submit":
            await venue.submit(order_from_wire(command["order"]))
        elif kind == "cancel":
            await venue.cancel(command["tradeId"], command["account"], command["symbol"])
        elif kind == "set_price":
            liquidity = command.get("liquidity")
            await venue.set_price(command["symbol"], Decimal(command["price"]), int(liquidity) if liquidity else None)
        elif kind == "close_session":
            await venue.close_session(parse_time(command["at"]))
        else:
            log.warning("unknown venue command", command=kind)
        await self.state.save(venue.drain_changes())
        if command.get("replyTo"):
            await self.broker.publish_reply(command["replyTo"], command["correlationId"], {"ok": True})

    async def walk(self, interval: float, volatility: Decimal) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.venue.walk(volatility)
                await self.state.save(self.venue.drain_changes())
            except Exception:
                log.exception("price walk failed")

    async def run(self, walk_seconds: float, volatility: Decimal) -> None:
        await self.restore()
        loops = [self.broker.consume(CONSUMERS["venue-sim"], self.handle)]
        if walk_seconds > 0:
            loops.append(self.walk(walk_seconds, volatility))
        await asyncio.gather(*loops)
