"""The venue port over RabbitMQ: orders and cancels go out on `<i>.venue` / `orders`,
execution reports come back on `reports`. The simulator's controls travel the same
line as orders, so a price set after an order is seen after it; they are calls
(request and reply) so that `/sim` routes answer once the venue has acted."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from tickerdesk.adapters.rabbitmq.broker import Broker
from tickerdesk.app.ports import VenueOrder
from tickerdesk.codec import order_to_wire


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

    async def set_price(self, symbol: str, price: Decimal, liquidity: int | None = None) -> None:
        await self.broker.call("venue", "orders", {"command": "set_price", "symbol": symbol, "price": price,
                                                    "liquidity": liquidity}, self.timeout)

    async def close_session(self, at: datetime) -> None:
        await self.broker.call("venue", "orders", {"command": "close_session", "at": at}, self.timeout)
