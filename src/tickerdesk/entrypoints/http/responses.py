"""What each route answers, as the OpenAPI document shows it: small pydantic models of
the JSON that `tickerdesk.app.views`, the queries and the routes build, and `answers()`,
which turns a route's success model and the refusals it can give into the `responses=`
of its decorator.

Documentation only: routes keep returning `ExactJSONResponse`, so nothing here ever
validates or re-serializes a response (money stays an exact JSON number). The models
forbid extra properties, so the schemathesis test (tests/integration/test_openapi.py)
fails as soon as a view and its model drift apart.

Refusals every route of a kind can give (authentication, rate limits, a body's syntax
and size, a parameter's form) are added by `tickerdesk.entrypoints.http.openapi` from
the route's dependencies; a route names only the refusals of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from http import HTTPStatus
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, create_model

from tickerdesk.app.price_bars import INTERVALS
from tickerdesk.domain.accounting import LedgerKind
from tickerdesk.domain.events import USER_FACING, EventType
from tickerdesk.domain.notifications import NOTIFIABLE, Channel
from tickerdesk.domain.orders import OrderType, Side, Status, TimeInForce
from tickerdesk.entrypoints.http.errors import STATUS

# An exact decimal, sent as a JSON number (never a string, never rounded through a float).
Money = Annotated[Decimal, WithJsonSchema({"type": "number"})]
Id = Annotated[str, Field(json_schema_extra={"format": "uuid"})]

PROBLEM_TYPE = "application/problem+json"
PROBLEM_REF = "#/components/schemas/Problem"


def _untitled(schema: dict[str, Any]) -> None:
    """Without pydantic's titles of properties ("Tradeid"): the names say it."""
    for value in schema.get("properties", {}).values():
        value.pop("title", None)


class Shape(BaseModel):
    """A JSON object with exactly these keys."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_untitled)


# -- orders -------------------------------------------------------------------------


class Trade(Shape):
    """An order and what became of it."""

    tradeId: Id
    userId: str
    stockSymbol: str
    quantity: int
    pricePerShare: Money | None = Field(description="the average fill price once any share filled, else the "
                                                    "limit price; null for a market order with no fills")
    totalPrice: Money | None = Field(description="pricePerShare × (filledQuantity if any filled, else quantity)")
    tradeType: Side
    status: Status
    createdAt: datetime
    updatedAt: datetime
    orderType: OrderType
    limitPrice: Money | None
    holdPrice: Money | None = Field(description="the price per share held for a buy: the limit, or the market "
                                                "collar of a market order")
    timeInForce: TimeInForce
    clientOrderId: str | None
    filledQuantity: int
    averageFillPrice: Money | None
    cancelRequested: bool
    rejectReason: str | None


class Execution(Shape):
    executionId: str
    quantity: int
    price: Money
    executedAt: datetime


class TradeWithExecutions(Trade):
    executions: list[Execution] = Field(description="every fill, oldest first")


class TradePage(Shape):
    items: list[Trade] = Field(description="newest first")
    nextCursor: Id | None = Field(description="pass as `cursor` for the next page; null on the last one")


# -- money and holdings ---------------------------------------------------------------


class Balance(Shape):
    userId: str
    availableBalance: Money
    heldForTrades: Money
    totalBalance: Money = Field(description="availableBalance + heldForTrades")


class LedgerEntry(Shape):
    entryId: int
    kind: LedgerKind
    amount: Money
    tradeId: Id | None
    reference: str | None
    createdAt: datetime


class LedgerPage(Shape):
    items: list[LedgerEntry] = Field(description="newest first")
    nextCursor: str | None = Field(description="pass as `cursor` for the next page; null on the last one")


class Position(Shape):
    """A holding as the `portfolio.updated` notification carries it."""

    stockSymbol: str
    quantity: int
    heldQuantity: int = Field(description="shares held for open sell orders")
    averagePurchasePrice: Money
    realizedPnl: Money


class Holding(Position):
    """A holding valued at the current price (null when the stock has no price)."""

    currentPrice: Money | None
    marketValue: Money | None
    unrealizedPnl: Money | None


class Portfolio(Shape):
    userId: str
    holdings: list[Holding]
    totalValue: Money = Field(description="the sum of the holdings' market values")


# -- notifications --------------------------------------------------------------------


class TradeFill(Trade):
    lastQuantity: int = Field(description="the shares of this fill")
    lastPrice: Money = Field(description="the price of this fill")


def _envelope(name: str, types: Iterable[EventType], data: type[BaseModel], about: str) -> type[BaseModel]:
    """A notification of these event types: the envelope of `tickerdesk.codec` and its `seq`."""
    kinds: Any = Literal[tuple(str(t) for t in types)]
    return create_model(
        name, __base__=Shape, __doc__=about, __module__=__name__,
        seq=(int, Field(description="the position in the user's inbox: pass it as `after` (or Last-Event-ID)")),
        id=(Id, ...), type=(kinds, ...), userId=(str, ...), occurredAt=(datetime, ...), schemaVersion=(int, ...),
        data=(data, ...),
    )


TradeNotification = _envelope(
    "TradeNotification",
    sorted({EventType.TRADE_PLACED, EventType.TRADE_CANCELED, EventType.TRADE_EXPIRED, EventType.TRADE_REJECTED}
           & USER_FACING),
    Trade, "An order was placed, canceled, expired or rejected: the trade as it is now.")
FillNotification = _envelope(
    "FillNotification", [EventType.TRADE_PARTIALLY_EXECUTED, EventType.TRADE_EXECUTED], TradeFill,
    "Shares of an order filled: the trade as it is now, and this fill.")
BalanceNotification = _envelope("BalanceNotification", [EventType.BALANCE_UPDATED], Balance, "The balance changed.")
PortfolioNotification = _envelope("PortfolioNotification", [EventType.PORTFOLIO_UPDATED], Position,
                                  "A holding changed.")
Notification = Annotated[
    TradeNotification | FillNotification | BalanceNotification | PortfolioNotification,  # type: ignore[valid-type]
    Field(discriminator="type"),
]


class NotificationPage(Shape):
    items: list[Notification] = Field(description="oldest first")
    next: int | None = Field(description="the last `seq` of this page (or the `after` given): pass it as `after`")


# -- market -------------------------------------------------------------------------


class Stock(Shape):
    symbol: str
    name: str
    lotSize: int
    active: bool
    lastPrice: Money | None


class StockList(Shape):
    items: list[Stock]


BarInterval = Literal[tuple(INTERVALS)]  # type: ignore[valid-type]


class Bar(Shape):
    """The recorded price ticks of one interval."""

    start: datetime = Field(description="the start of the interval, on the UTC grid (a 1d bar starts at 00:00Z)")
    open: Money = Field(description="the first tick's price")
    high: Money
    low: Money
    close: Money = Field(description="the last tick's price")
    ticks: int = Field(description="how many price changes the interval had")


class Bars(Shape):
    symbol: str
    interval: BarInterval  # type: ignore[valid-type]
    bars: list[Bar] = Field(description="oldest first; an interval without ticks has no bar")


# -- webhooks -----------------------------------------------------------------------


WebhookEventType = Literal[tuple(sorted(str(t) for t in USER_FACING))]  # type: ignore[valid-type]


class Webhook(Shape):
    webhookId: Id
    url: str
    eventTypes: list[WebhookEventType] | None = Field(description="null: every user-facing event")  # type: ignore[valid-type]
    createdAt: datetime


class NewWebhook(Webhook):
    secret: str = Field(pattern="^whsec_[A-Za-z0-9+/]{32,}={0,2}$",
                        description="`whsec_` and base64: the Standard Webhooks key that signs every delivery; "
                                    "shown only in this answer")


class WebhookList(Shape):
    items: list[Webhook] = Field(description="oldest first")


class Delivery(Shape):
    deliveryId: int
    eventId: Id
    eventType: WebhookEventType  # type: ignore[valid-type]
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    lastStatusCode: int | None
    lastError: str | None
    nextAttemptAt: datetime | None = Field(description="set while pending")
    createdAt: datetime
    deliveredAt: datetime | None


class DeliveryPage(Shape):
    items: list[Delivery] = Field(description="newest first")
    nextCursor: str | None = Field(description="pass as `cursor` for the next page; null on the last one")


# -- the simulated venue and health ---------------------------------------------------


class SimPrice(Shape):
    symbol: str
    price: Money
    liquidity: int | None


class SessionClosed(Shape):
    closed: Literal[True]
    closedAt: datetime = Field(description="every `day` order accepted before this time expires")


class Health(Shape):
    status: Literal["ok"]


class Readiness(Shape):
    status: Literal["ready", "unavailable"]
    checks: dict[str, str] = Field(description='each dependency: "ok" or "down: <error>"')


# -- problems -----------------------------------------------------------------------


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


class FieldError(Shape):
    field: str | None = Field(description="the offending field (`stockSymbol`, `query.limit`); null for the "
                                          "whole body")
    message: str


class Problem(Shape):
    """RFC 9457 problem details: every refusal, with a machine-readable `code`."""

    type: str = Field(json_schema_extra={"format": "uri"})
    title: str
    status: int
    detail: str
    code: str
    errors: list[FieldError] = Field(None, json_schema_extra=_no_default,  # type: ignore[arg-type]
                                     description="each field that was refused (input errors only)")


# -- previews -----------------------------------------------------------------------


class OrderPreview(Shape):
    """What a placement of this body would hold and cost, and the refusal it would get now."""

    ok: bool = Field(description="true when a placement would be accepted now")
    holdAmount: Money | None = Field(description="a buy's cash hold: quantity × holdPrice; null for a sell")
    heldShares: int | None = Field(description="a sell's hold: its shares; null for a buy")
    holdPrice: Money | None = Field(description="the limit, or a market buy's collar (last price + 5%)")
    estimatedCost: Money | None = Field(description="quantity × (limit, else the last price): a buy's cost, a "
                                                    "sell's proceeds")
    available: Money = Field(description="the available cash (buy) or the shares free to sell (sell)")
    error: Problem | None = Field(description="the refusal a placement would get now; null when ok")


# A header of some answers: documentation of what the routes and middleware send.
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "required": True, "schema": {"type": "integer"}}}
WWW_AUTHENTICATE = {"WWW-Authenticate": {"required": True, "schema": {"type": "string", "const": "Bearer"}}}
REPLAYED = {"Idempotent-Replayed": {"description": "true when this answers a retry: nothing new was done",
                                    "schema": {"type": "string", "const": "true"}}}
REPLAYED_ALWAYS = {"Idempotent-Replayed": {**REPLAYED["Idempotent-Replayed"], "required": True}}
HEADERS_OF = {401: WWW_AUTHENTICATE, 429: RETRY_AFTER}


def problem_response(status: int, codes: Iterable[str]) -> dict[str, Any]:
    """A problem+json answer with the codes it can carry."""
    codes = sorted(set(codes))
    answer: dict[str, Any] = {
        "description": f"{HTTPStatus(status).phrase}: " + ", ".join(f"`{c}`" for c in codes),
        "content": {PROBLEM_TYPE: {"schema": {"allOf": [{"$ref": PROBLEM_REF},
                                                        {"properties": {"code": {"enum": codes}}}]}}},
    }
    if status in HEADERS_OF:
        answer["headers"] = HEADERS_OF[status]
    return answer


def problem_codes(answer: Mapping[str, Any]) -> list[str]:
    """The codes of an answer `problem_response` made."""
    codes: list[str] = answer["content"][PROBLEM_TYPE]["schema"]["allOf"][1]["properties"]["code"]["enum"]
    return codes


def status_for(refusal: type[Exception]) -> int:
    """The status `errors.STATUS` gives this class of refusal (or its nearest parent)."""
    return next(STATUS[cls] for cls in refusal.__mro__ if cls in STATUS)


def answers(
    status: int,
    model: type[BaseModel] | None,
    *refusals: type[Exception],
    description: str | None = None,
    headers: Mapping[str, Any] | None = None,
    content: Mapping[str, Any] | None = None,
    also: Mapping[int, tuple[type[BaseModel], str, Mapping[str, Any] | None]] | None = None,
) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: its success `model` at `status` (None: no JSON body;
    `content` for another media type), other successes in `also` (status: model,
    description, headers), and the refusals of its own (domain errors and edge refusals;
    each one's status is the one `errors.STATUS` gives it, its code its class's `code`)."""
    documented: dict[int | str, dict[str, Any]] = {}
    success: dict[str, Any] = {"description": description or HTTPStatus(status).phrase}
    if model is not None:
        success["model"] = model
    if headers:
        success["headers"] = dict(headers)
    if content:
        success["content"] = dict(content)
    documented[status] = success
    for other, (other_model, other_description, other_headers) in (also or {}).items():
        documented[other] = {"model": other_model, "description": other_description}
        if other_headers:
            documented[other]["headers"] = dict(other_headers)
    by_status: dict[int, set[str]] = {}
    for refusal in refusals:
        by_status.setdefault(status_for(refusal), set()).add(str(getattr(refusal, "code")))  # noqa: B009
    for refused, codes in by_status.items():
        documented[refused] = problem_response(refused, codes)
    return documented


# -- notifications by email, Web Push and SMS ---------------------------------------------


NotifiableType = Literal[tuple(str(t) for t in NOTIFIABLE)]  # type: ignore[valid-type]
ChannelName = Literal[tuple(str(c) for c in Channel)]  # type: ignore[valid-type]
ClockTime = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", examples=["22:00"])]


class Contact(Shape):
    address: str
    verified: bool = Field(description="false until the code sent to it is confirmed; nothing else is sent to it "
                                       "before")


class Contacts(Shape):
    email: Contact | None
    phone: Contact | None


class QuietHours(Shape):
    """Push and SMS wait while these hours last (email does not interrupt, so it does not wait)."""

    start: ClockTime
    end: ClockTime = Field(description="before `start`: the quiet hours span midnight")
    timeZone: str = Field(examples=["Europe/Paris"])


class NotificationPreferences(Shape):
    channels: dict[NotifiableType, list[ChannelName]] = Field(  # type: ignore[valid-type]
        description="for each event type, the channels that tell you about it")
    contacts: Contacts
    pushSubscriptions: int = Field(description="how many browsers receive push notifications")
    quietHours: QuietHours | None


class ContactChange(Shape):
    kind: Literal["email", "phone"]
    address: str = Field(description="as stored: a phone number in E.164 form (+14155550123)")
    verified: bool
    codeExpiresAt: datetime | None = Field(description="when the code just sent expires; null when the address "
                                                       "was verified already and nothing was sent")


class PushSubscription(Shape):
    subscriptionId: Id
    endpoint: str
    createdAt: datetime


class PushSubscriptionList(Shape):
    items: list[PushSubscription] = Field(description="oldest first")


class PushKey(Shape):
    publicKey: str = Field(description="the VAPID public key (base64url, uncompressed P-256): pass it as "
                                       "`applicationServerKey` to PushManager.subscribe()")


class NotificationDelivery(Shape):
    """One message of one event on one channel (on push, to one browser)."""

    deliveryId: int
    eventId: Id
    eventType: NotifiableType  # type: ignore[valid-type]
    channel: ChannelName  # type: ignore[valid-type]
    recipient: str = Field(description="the email address or phone number; the subscription id for push")
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    lastError: str | None
    nextAttemptAt: datetime | None = Field(description="set while pending")
    sentWith: int | None = Field(description="the delivery whose message also carried this one (fills of one "
                                             "order close together are one email or SMS)")
    createdAt: datetime
    deliveredAt: datetime | None


class NotificationDeliveryPage(Shape):
    items: list[NotificationDelivery] = Field(description="newest first")
    nextCursor: str | None = Field(description="pass as `cursor` for the next page; null on the last one")
