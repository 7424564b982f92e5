"""The JSON shapes clients and consumers see (camelCase, as in the seed objects).

Events carry the same shapes (see `tickerdesk.codec`), so a notification shows
exactly what the API would.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from tickerdesk.app.ports import Bar
from tickerdesk.domain.accounting import Balance, Position
from tickerdesk.domain.money import plain
from tickerdesk.domain.orders import Order


@lru_cache(maxsize=8192)
def rfc3339(moment: datetime) -> str:
    """UTC, microseconds, `Z`. Cached: a trade's times are written many times over (its
    view, its events, their envelopes), and formatting costs more than a lookup."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def trade_view(order: Order) -> dict[str, Any]:
    return {
        "tradeId": order.trade_id,
        "userId": order.user_id,
        "stockSymbol": order.symbol,
        "quantity": order.quantity,
        "pricePerShare": plain(order.price_per_share),
        "totalPrice": plain(order.total_price),
        "tradeType": str(order.side),
        "status": str(order.status),
        "createdAt": rfc3339(order.created_at),
        "updatedAt": rfc3339(order.updated_at),
        "orderType": str(order.order_type),
        "limitPrice": plain(order.limit_price),
        "holdPrice": plain(order.hold_price),
        "timeInForce": str(order.time_in_force),
        "clientOrderId": order.client_order_id,
        "filledQuantity": order.filled_quantity,
        "averageFillPrice": plain(order.average_fill_price),
        "cancelRequested": order.cancel_requested,
        "rejectReason": order.reject_reason,
    }


def balance_view(user_id: str, balance: Balance) -> dict[str, Any]:
    return {
        "userId": user_id,
        "availableBalance": plain(balance.available),
        "heldForTrades": plain(balance.held),
        "totalBalance": plain(balance.total),
    }


def holding_view(position: Position) -> dict[str, Any]:
    """A position as the `portfolio.updated` event carries it (a placement's SQL
    builds the same; tests/integration/test_codec_sql.py keeps them equal)."""
    return {
        "stockSymbol": position.symbol,
        "quantity": position.quantity,
        "heldQuantity": position.held_quantity,
        "averagePurchasePrice": plain(position.average_price),
        "realizedPnl": plain(position.realized_pnl),
    }


def position_view(position: Position, price: Decimal | None) -> dict[str, Any]:
    """A holding valued at the current price, as `GET /portfolio` shows it."""
    market_value: Decimal | None = None
    unrealized: Decimal | None = None
    if price is not None:
        market_value = position.quantity * price
        unrealized = market_value - position.quantity * position.average_price
    return {
        **holding_view(position),
        "currentPrice": plain(price),
        "marketValue": plain(market_value),
        "unrealizedPnl": plain(unrealized),
    }


def bars_view(symbol: str, interval: str, bars: list[Bar]) -> dict[str, Any]:
    """A chart's bars, oldest first; a bar starts on a whole minute, so it shows no fraction."""
    return {
        "symbol": symbol,
        "interval": interval,
        "bars": [
            {
                "start": bar.start.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
                "open": plain(bar.open),
                "high": plain(bar.high),
                "low": plain(bar.low),
                "close": plain(bar.close),
                "ticks": bar.ticks,
            }
            for bar in bars
        ],
    }
