"""Place an order: validate it, hold what it needs, record it, and announce it.

The venue hears of the order from its `trade.placed` event, never directly, so an
order that is committed always reaches the venue, even if this process dies now.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from tickerdesk.app.ports import Clock, CommandStore, NewOrder, PriceBook
from tickerdesk.domain.errors import IdempotencyConflict, InsufficientFunds, InsufficientShares, PriceOutOfBand
from tickerdesk.domain.events import TradePlaced
from tickerdesk.domain.ids import new_event_id, new_trade_id
from tickerdesk.domain.instruments import Instrument, tradable
from tickerdesk.domain.orders import Order, OrderRequest, Status, check_price_band, hold_price_for


@dataclass(frozen=True)
class Placement:
    order: Order
    replayed: bool  # True: an earlier request with the same key placed it


def fingerprint(request: OrderRequest) -> str:
    """What makes two requests 'the same' for idempotency: every field of the order."""
    text = "|".join(
        str(v)
        for v in (
            request.symbol, request.side, request.order_type, request.quantity,
            request.limit_price, request.time_in_force, request.client_order_id,
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()


async def place_order(
    user_id: str,
    request: OrderRequest,
    idempotency_key: str | None,
    *,
    commands: CommandStore,
    instruments: dict[str, Instrument],
    prices: PriceBook,
    clock: Clock,
) -> Placement:
    tradable(instruments, request.symbol)
    last_price = prices.last(request.symbol)
    now = clock.now()
    order = Order(
        trade_id=new_trade_id(),
        user_id=user_id,
        symbol=request.symbol,
        side=request.side,
        order_type=request.order_type,
        time_in_force=request.time_in_force,
        quantity=request.quantity,
        limit_price=request.limit_price,
        hold_price=hold_price_for(request, last_price),
        status=Status.PENDING,
        created_at=now,
        updated_at=now,
        client_order_id=request.client_order_id,
    )
    request_hash = fingerprint(request)
    new = NewOrder(
        placed=TradePlaced(user_id=user_id, occurred_at=now, order=order),
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        update_event_id=new_event_id(),
    )
    keyed = bool(request.client_order_id or idempotency_key)
    try:
        check_price_band(request, last_price)  # before any hold: a fat finger changes nothing
        written = await commands.place(new)
    except (InsufficientFunds, InsufficientShares, PriceOutOfBand):
        # A retry of an order placed when the money was there (or the price nearer) must still find it.
        if not keyed or not (existing := await _existing(user_id, request, idempotency_key, commands)):
            raise
        return _replay(existing, request_hash)
    if written is not None:
        return Placement(order, replayed=False)
    return _replay(await _existing(user_id, request, idempotency_key, commands), request_hash)


async def _existing(
    user_id: str, request: OrderRequest, idempotency_key: str | None, commands: CommandStore
) -> list[tuple[Order, str]]:
    return await commands.find_by_keys(user_id, request.client_order_id, idempotency_key)


def _replay(existing: list[tuple[Order, str]], request_hash: str) -> Placement:
    if len(existing) != 1 or existing[0][1] != request_hash:
        raise IdempotencyConflict("this idempotency key or clientOrderId was used for a different order")
    return Placement(existing[0][0], replayed=True)
