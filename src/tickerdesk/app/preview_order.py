"""Preview an order: the checks, the hold and the cost of a placement, with nothing written.

The same domain rules as `place_order` (tradable, the hold price or market collar, the
price band, the initial hold), with the funds and shares checked against what the
queries read now. A preview is advice, not a reservation: a placement a moment later
meets the balance as it is then, and the stores' constraints decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tickerdesk.app.ports import PriceBook, Queries
from tickerdesk.domain.errors import DomainError, InsufficientFunds, InsufficientShares
from tickerdesk.domain.instruments import Instrument, tradable
from tickerdesk.domain.orders import OrderRequest, Side, check_price_band, hold_price_for


@dataclass(frozen=True)
class Preview:
    side: Side
    hold_amount: Decimal | None  # a buy's cash hold: quantity x hold price
    held_shares: int | None  # a sell's hold: its shares
    hold_price: Decimal | None  # the limit, or a market buy's collar
    estimated_cost: Decimal | None  # quantity x (limit, else the last price); a sell's proceeds
    available: Decimal  # the cash (buy) or the free shares (sell) it would draw on
    error: DomainError | None  # what a placement would be refused with now

    @property
    def ok(self) -> bool:
        return self.error is None


async def preview_order(
    user_id: str,
    request: OrderRequest,
    *,
    queries: Queries,
    instruments: dict[str, Instrument],
    prices: PriceBook,
) -> Preview:
    if request.side is Side.BUY:
        available = (await queries.balance(user_id)).available
    else:
        position = next((p for p in await queries.positions(user_id) if p.symbol == request.symbol), None)
        available = Decimal(position.quantity - position.held_quantity if position else 0)
    try:
        tradable(instruments, request.symbol)
    except DomainError as unknown:
        return Preview(request.side, None, None, None, None, available, unknown)
    last_price = prices.last(request.symbol)
    hold_price = hold_price_for(request, last_price)
    unit = request.limit_price if request.limit_price is not None else last_price
    estimated = request.quantity * unit if unit is not None else None
    hold_amount = request.quantity * hold_price if hold_price is not None else None
    refusal: DomainError | None = None
    try:
        check_price_band(request, last_price)  # placement checks it first, before any hold
        if hold_amount is not None and hold_amount > available:
            raise InsufficientFunds.needing(hold_amount, available)
        if request.side is Side.SELL and request.quantity > available:
            raise InsufficientShares.needing(request.symbol, request.quantity, int(available))
    except DomainError as refused:
        refusal = refused
    held_shares = request.quantity if request.side is Side.SELL else None
    return Preview(request.side, hold_amount, held_shares, hold_price, estimated, available, refusal)
