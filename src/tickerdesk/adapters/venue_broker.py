"""The venue port over RabbitMQ: orders and cancels go out on `<i>.venue` / `orders`,
execution reports come back on `reports`. The simulator's controls travel the same
line as orders, so a price set after an order is seen after it; they are calls
(request and reply) so that `/sim` routes answer once the venue has acted."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import aio_pika

from ..app.ports import VenueOrder
from .postgres.db import loads
from .rabbitmq import Broker
from .venue_wire import order_to_wire


class BrokerVenue:
    def __init__(self, broker: Broker):
        self.broker = broker

    async def submit(self, order: VenueOrder) -> None:
        await self.broker.publish("venue", "orders", {"command": "submit", "order": order_to_wire(order)},
                                  message_id=order.trade_id)

    async def cancel(self, trade_id: str, account: str, symbol: str) -> None:
        await self.broker.publish("venue", "orders",
                                  {"command": "cancel", "tradeId": trade_id, "account": account, "symbol": symbol})


class BrokerSimControl:
    def __init__(self, broker: Broker, timeout: float = 15.0):
        self.broker = broker
        self.timeout = timeout
        self._replies: dict[str, asyncio.Future] = {}
        self._queue_name: str | None = None

    async def _reply_queue(self) -> str:
        if self._queue_name is None:
            channel = await self.broker.connection.channel()
            queue = await channel.declare_queue(exclusive=True, auto_delete=True)

            async def on_reply(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                async with message.process():
                    future = self._replies.pop(message.correlation_id or "", None)
                    if future and not future.done():
                        future.set_result(loads(message.body))

            await queue.consume(on_reply)
            self._queue_name = queue.name
        return self._queue_name

    async def _call(self, command: dict[str, Any]) -> dict[str, Any]:
        correlation_id = uuid.uuid4().hex
        future = asyncio.get_running_loop().create_future()
        self._replies[correlation_id] = future
        await self.broker.publish("venue", "orders",
                                  {**command, "replyTo": await self._reply_queue(), "correlationId": correlation_id})
        try:
            return await asyncio.wait_for(future, self.timeout)
        finally:
            self._replies.pop(correlation_id, None)

    async def set_price(self, symbol: str, price: Decimal, liquidity: int | None = None) -> None:
        await self._call({"command": "set_price", "symbol": symbol, "price": price, "liquidity": liquidity})

    async def close_session(self) -> None:
        await self._call({"command": "close_session"})
