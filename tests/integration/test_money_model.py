"""Differential test: the PostgreSQL command store does exactly what the model does.

The money rules are computed once, by the domain. Every hold, fill, release, average
cost and realized P&L comes out of `tickerdesk.domain`, through the use cases, and a
command store only applies the amounts it is given. PostgreSQL's CHECK constraints
enforce the rules (no negative cash, no more shares held than owned) but compute
nothing. `MemoryCommandStore` keeps the same books with the domain objects themselves
(`Balance.post`, `Position.hold`, ...), so it is the model of what the books must be.

Hypothesis generates random sequences of commands for three users and two symbols:
deposits and withdrawals (some for more than is available, some reusing a reference,
which names one instruction across users, some exact retries of an earlier one),
placements (buy and sell, limit and market, some reusing a clientOrderId or an
idempotency key, some exact retries), fills and partial fills (some repeated, some
that the order cannot have), cancel requests, and cancel, expiry and reject reports.
Each command runs through the use cases on both stores with the same arguments. The
two stores must give the same outcome: the same result, or the same DomainError. After
every step they must also hold the same books for every user: balance (available,
held), positions (quantity, held, average price, realized P&L), orders (status, fills,
cancel request, ...), ledger entries, recorded executions, funding instructions, and
outbox events with their payloads.

If this passes, the SQL adapter applies exactly what the model says. A hand-written
statement that moves the wrong amount, skips a row, or builds a different event
payload shows up as the first step where the two sets of books differ.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tickerdesk.adapters.memory.clock import FixedClock
from tickerdesk.adapters.memory.price_book import MemoryPriceBook
from tickerdesk.adapters.memory.store import MemoryCommandStore
from tickerdesk.adapters.postgres.commands import PgCommandStore
from tickerdesk.adapters.postgres.db import seed_instruments
from tickerdesk.adapters.postgres.rows import TRADE_COLUMNS, order_from_row, position_from_row
from tickerdesk.app.apply_execution import apply_execution
from tickerdesk.app.cancel_order import cancel_order
from tickerdesk.app.funding import fund
from tickerdesk.app.place_order import Placement, place_order
from tickerdesk.app.ports import CommandStore, ExecutionReport, ReportKind
from tickerdesk.codec import encode_event
from tickerdesk.domain.accounting import Balance, FundingInstruction, LedgerKind, Position
from tickerdesk.domain.errors import DomainError
from tickerdesk.domain.instruments import Instrument
from tickerdesk.domain.orders import Order, OrderRequest, OrderType, Side, TimeInForce

SYMBOLS = ("AAPL", "MSFT")  # both shipped by seed_instruments
START_PRICES = {"AAPL": Decimal("189.50"), "MSFT": Decimal("41.37")}
INSTRUMENTS = {s: Instrument(s, s) for s in SYMBOLS}
MAX_STEPS = 25
MODEL, PG = 0, 1
SIDES = ("model", "postgres")

CENT = Decimal("0.01")
cash = st.one_of(st.integers(1_000, 100_000).map(Decimal), st.decimals(CENT, Decimal("5000"), places=2))
# Commands, weighted by repetition (hypothesis shrinks towards the first).
COMMANDS = st.sampled_from(
    ["deposit"] * 3 + ["withdraw"] * 2 + ["place"] * 5 + ["retry_placement"]
    + ["fill"] * 6 + ["repeat_report"] + ["cancel"] * 2 + ["close"] * 2 + ["price"] + ["retry_funding"]
)


@dataclass(frozen=True)
class Outcome:
    """What one store answered: a normalized result, or the kind of refusal."""

    ok: bool
    value: Any


REFUSED_BY_CONSTRAINT = "refused by a constraint (not a DomainError)"


class Differential:
    """Both stores, the shared clock and prices, and what the sequence has made so far."""

    def __init__(self, pool: asyncpg.Pool, data: st.DataObject):
        self.pool, self.data = pool, data
        self.model = MemoryCommandStore()
        self.stores: tuple[CommandStore, CommandStore] = (self.model, PgCommandStore(pool))
        self.clock = FixedClock()
        self.prices = MemoryPriceBook(dict(START_PRICES))
        self.run = run = uuid.uuid4().hex[:10]
        self.users = [f"diff-{run}-{n}" for n in range(3)]
        # Orders by placement index: (user, model trade id, postgres trade id).
        self.trades: list[tuple[str, str, str]] = []
        self.index: tuple[dict[str, int], dict[str, int]] = ({}, {})
        self.placements: list[tuple[str, OrderRequest, str | None]] = []
        self.references: list[str] = []
        self.fundings: list[tuple[str, LedgerKind, Decimal, str | None]] = []
        self.reports: list[tuple[ExecutionReport, ExecutionReport]] = []
        self.counter = 0
        self.trace: list[str] = []
        self.constraint_refusals: list[str] = []

    # -- drawing ---------------------------------------------------------------------
    def draw(self, strategy: st.SearchStrategy[Any], label: str) -> Any:
        return self.data.draw(strategy, label=label)

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.counter}"

    def user(self) -> str:
        return self.draw(st.sampled_from(self.users), "user")

    def reference(self) -> str | None:
        kind = self.draw(st.sampled_from(["none", "fresh", "fresh", "reused"]), "reference")
        if kind == "none":
            return None
        if kind == "reused" and self.references:
            return self.draw(st.sampled_from(self.references), "reused reference")
        ref = self.fresh(f"ref-{self.run}")  # references are unique across users, so across examples too
        self.references.append(ref)
        return ref

    def order_index(self, open_only: bool) -> int | None:
        indices = [i for i in range(len(self.trades)) if not open_only or self.model_order(i).is_open]
        return self.draw(st.sampled_from(indices), "order") if indices else None

    def model_order(self, idx: int) -> Order:
        user, model_tid, _ = self.trades[idx]
        return self.model.order(user, model_tid)

    # -- running one command on both stores ------------------------------------------
    async def both(self, what: str, run: Callable[[int, CommandStore], Awaitable[Any]],
                   register_new_order: bool = False) -> None:
        raw: list[tuple[bool, Any]] = []
        for side, store in enumerate(self.stores):
            try:
                raw.append((True, await run(side, store)))
            except DomainError as exc:
                raw.append((False, type(exc).__name__))
            except (ValueError, asyncpg.IntegrityConstraintViolationError) as exc:
                # The use cases should never get here: the domain refuses first.
                self.constraint_refusals.append(f"{what} on {SIDES[side]}: {exc!r}")
                raw.append((False, REFUSED_BY_CONSTRAINT))
        if register_new_order and all(ok and not value.replayed for ok, value in raw):
            self.register(raw[MODEL][1].order, raw[PG][1].order)
        outcomes = [Outcome(ok, self.normalize(side, value) if ok else value) for side, (ok, value) in enumerate(raw)]
        self.trace.append(f"{what}\n      -> {outcomes[MODEL]}" + (
            "" if outcomes[MODEL] == outcomes[PG] else f"\n      postgres: {outcomes[PG]}"))
        assert outcomes[MODEL] == outcomes[PG], self.failure(f"outcomes differ for {what}")

    def register(self, model_order: Order, pg_order: Order) -> None:
        idx = len(self.trades)
        self.trades.append((model_order.user_id, model_order.trade_id, pg_order.trade_id))
        self.index[MODEL][model_order.trade_id] = idx
        self.index[PG][pg_order.trade_id] = idx

    def tid(self, side: int, trade_id: str) -> str:
        """A store's trade id as the placement index both stores share."""
        idx = self.index[side].get(str(trade_id))
        return f"#{idx}" if idx is not None else f"unknown {trade_id}"

    def ledger_tid(self, side: int, trade_id: str | None) -> str | None:
        return None if trade_id is None else self.tid(side, trade_id)

    def normalize(self, side: int, value: Any) -> Any:
        if isinstance(value, Placement):
            return ("replayed" if value.replayed else "placed", self.normalize(side, value.order))
        if isinstance(value, Order):
            return replace(value, trade_id=self.tid(side, value.trade_id))
        return value  # a Balance, None or a bool

    def failure(self, message: str) -> str:
        steps = "\n".join(f"  {n}. {line}" for n, line in enumerate(self.trace, 1))
        return f"{message}\nusers {self.users}; steps so far:\n{steps}"

    # -- the commands ------------------------------------------------------------------
    async def open_accounts(self) -> None:
        """Most users start with cash (one may have no account at all): a deposit each."""
        for n, user in enumerate(self.users):
            amount = self.draw(st.sampled_from([Decimal("100000"), Decimal("2500.50"), None]), f"user {n} opens with")
            if amount is not None:
                await self.fund(f"deposit {amount} to {user}", user, LedgerKind.DEPOSIT, amount, None)
        await self.compare()

    async def step(self) -> None:
        command = self.draw(COMMANDS, "command")
        await getattr(self, command)()
        self.clock.advance(1)
        await self.compare()

    async def fund(self, what: str, user: str, kind: LedgerKind, amount: Decimal, reference: str | None) -> None:
        self.fundings.append((user, kind, amount, reference))
        await self.both(what, lambda side, store: fund(
            user, kind, amount, reference, commands=store, clock=self.clock))

    async def deposit(self) -> None:
        user, amount, reference = self.user(), self.draw(cash, "amount"), self.reference()
        await self.fund(f"deposit {amount} to {user} ref={reference}", user, LedgerKind.DEPOSIT, amount, reference)

    async def withdraw(self) -> None:
        user = self.user()
        available = self.model.balance(user).available
        how = self.draw(st.sampled_from(["part", "all", "more"]), "withdraw how")
        if how == "part" and available >= CENT:
            amount = self.draw(st.decimals(CENT, available, places=2), "amount")
        elif how == "all" and available > 0:
            amount = available
        else:
            amount = available + self.draw(st.decimals(CENT, Decimal("1000"), places=2), "excess")
        reference = self.reference()
        await self.fund(f"withdraw {amount} from {user} (available {available}) ref={reference}",
                        user, LedgerKind.WITHDRAWAL, amount, reference)

    async def retry_funding(self) -> None:
        """The rail sends an earlier referenced instruction again: a retry moves nothing."""
        referenced = [f for f in self.fundings if f[3] is not None]
        if not referenced:
            return await self.deposit()
        user, kind, amount, reference = self.draw(st.sampled_from(referenced), "earlier instruction")
        if self.draw(st.booleans(), "amount written with 4 places"):  # 100 and 100.0000 are one amount
            amount = amount.quantize(Decimal("0.0001"))
        await self.fund(f"retry {kind} {amount} for {user} ref={reference} (available "
                        f"{self.model.balance(user).available})", user, kind, amount, reference)

    async def place(self) -> None:
        user = self.user()
        free_by_symbol = {s: self.model.position(user, s).quantity - self.model.position(user, s).held_quantity
                          for s in SYMBOLS}
        owned = [s for s in SYMBOLS if free_by_symbol[s]]
        # Sells are mostly of shares the user has, a few of shares they lack.
        side = self.draw(st.sampled_from([Side.BUY, Side.SELL] if owned else [Side.BUY] * 4 + [Side.SELL]), "side")
        symbols = owned if side is Side.SELL and owned and self.draw(st.booleans(), "owned symbol") else SYMBOLS
        symbol = self.draw(st.sampled_from(symbols), "symbol")
        free = free_by_symbol[symbol]
        order_type = self.draw(st.sampled_from([OrderType.LIMIT, OrderType.MARKET]), "type")
        last = self.prices.last(symbol)
        assert last is not None
        limit = None
        if order_type is OrderType.LIMIT:
            limit = self.draw(st.one_of(
                st.decimals(Decimal("0.80"), Decimal("1.20"), places=2).map(
                    lambda f: max(CENT, (last * f).quantize(CENT))),
                st.decimals(CENT, Decimal("500"), places=2),
            ), "limit")
        if side is Side.SELL:
            quantity = self.draw(st.one_of(st.integers(1, max(free, 1)), st.integers(1, free + 5)), "quantity")
        else:  # mostly what the cash covers, sometimes more
            affordable = int(self.model.balance(user).available // (limit or last * Decimal("1.05")))
            quantity = self.draw(st.one_of(st.integers(1, max(affordable, 1)), st.integers(1, 40)), "quantity")
        request = OrderRequest(
            symbol=symbol, side=side, order_type=order_type, quantity=quantity, limit_price=limit,
            time_in_force=self.draw(st.sampled_from(list(TimeInForce)), "time in force"),
            client_order_id=self.draw(st.sampled_from([None, None, None, "c1", "c2"]), "clientOrderId"),
        )
        key = self.draw(st.sampled_from([None, None, None, "k1", "k2"]), "idempotency key")
        await self.submit(user, request, key)

    async def retry_placement(self) -> None:
        """The same request again, with the same keys: a client's retry."""
        if not self.placements:
            return await self.place()
        user, request, key = self.draw(st.sampled_from(self.placements), "earlier placement")
        await self.submit(user, request, key, retry=True)

    async def submit(self, user: str, request: OrderRequest, key: str | None, retry: bool = False) -> None:
        self.placements.append((user, request, key))
        what = (f"{'retry ' if retry else ''}place for {user}: {request.side} {request.order_type} "
                f"{request.quantity} {request.symbol} @ {request.limit_price} "
                f"(last {self.prices.last(request.symbol)}) {request.time_in_force} "
                f"clientOrderId={request.client_order_id} key={key}")
        await self.both(what, lambda side, store: place_order(
            user, request, key, commands=store, instruments=INSTRUMENTS, prices=self.prices, clock=self.clock,
        ), register_new_order=True)

    def report(self, idx: int | None, kind: ReportKind, quantity: int = 0, price: Decimal | None = None,
               reason: str | None = None) -> tuple[ExecutionReport, ExecutionReport]:
        """One report, addressed to each store's own trade id (or to no order at all)."""
        if idx is None:
            user, unknown = self.user(), str(uuid.uuid4())
            tids, filled, total = (unknown, unknown), 0, quantity
        else:
            user, model_tid, pg_tid = self.trades[idx]
            tids = (model_tid, pg_tid)
            order = self.model_order(idx)
            filled, total = order.filled_quantity, order.quantity
        cumulative, execution_id = filled + quantity, self.fresh("exec")
        model, pg = (ExecutionReport(
            execution_id=execution_id, trade_id=tid, account=user, kind=kind, last_quantity=quantity,
            last_price=price, cumulative_quantity=cumulative,
            remaining_quantity=max(total - cumulative, 0) if kind in (ReportKind.FILL, ReportKind.PARTIAL_FILL) else 0,
            occurred_at=self.clock.now(), reason=reason,
        ) for tid in tids)
        self.reports.append((model, pg))
        return model, pg

    async def send(self, what: str, pair: tuple[ExecutionReport, ExecutionReport]) -> None:
        await self.both(what, lambda side, store: apply_execution(pair[side], commands=store, clock=self.clock))

    async def fill(self) -> None:
        open_only = self.draw(st.sampled_from([True, True, True, True, False]), "open orders only")
        idx = self.order_index(open_only)
        if idx is None:
            if self.draw(st.sampled_from([False] * 9 + [True]), "fill an unknown order") is False:
                return await self.place()
            pair = self.report(None, ReportKind.FILL, 1, Decimal("10"))
            return await self.send("fill of an unknown order", pair)
        order = self.model_order(idx)
        mode = self.draw(st.sampled_from(["ok"] * 6 + ["too many", "bad price"]), "fill mode")
        remaining = order.remaining_quantity
        if mode == "too many" or remaining == 0:
            quantity = self.draw(st.integers(remaining + 1, remaining + 3), "quantity")
        else:
            quantity = self.draw(st.one_of(st.integers(1, remaining), st.just(remaining)), "quantity")
        price = self.fill_price(order, valid=mode != "bad price")
        kind = ReportKind.FILL if quantity == remaining else ReportKind.PARTIAL_FILL
        pair = self.report(idx, kind, quantity, price)
        await self.send(f"{kind} #{idx} ({order.side} {order.order_type} {order.status}, hold {order.hold_price}, "
                        f"limit {order.limit_price}, {remaining} left): {quantity} @ {price}", pair)

    def fill_price(self, order: Order, valid: bool) -> Decimal:
        if order.side is Side.BUY:
            hold = order.hold_price
            assert hold is not None  # every buy holds at a price
            if not valid:
                return hold + self.draw(st.decimals(CENT, Decimal("10"), places=2), "over the hold")
            return self.draw(st.one_of(st.just(hold), st.decimals(CENT, max(hold, CENT), places=2)), "price")
        limit = order.limit_price
        if limit is None:  # a market sell fills at any positive price
            return self.draw(st.decimals(CENT, Decimal("1000"), places=2), "price")
        if not valid and limit > CENT:
            return limit - self.draw(st.decimals(CENT, limit - CENT, places=2), "under the limit")
        return limit + self.draw(st.one_of(st.just(Decimal(0)), st.decimals(CENT, Decimal("50"), places=2)),
                                 "over the limit")

    async def repeat_report(self) -> None:
        if not self.reports:
            return await self.fill()
        pair = self.draw(st.sampled_from(self.reports), "earlier report")
        await self.send(f"repeat {pair[MODEL].kind} {pair[MODEL].execution_id} "
                        f"({pair[MODEL].last_quantity} @ {pair[MODEL].last_price})", pair)

    async def cancel(self) -> None:
        """A cancel request, and often the venue's confirmation after it."""
        idx = self.order_index(open_only=self.draw(st.booleans(), "open orders only"))
        if idx is None and not self.trades:
            return await self.place()
        if idx is None or self.draw(st.sampled_from([False] * 9 + [True]), "unknown order"):
            user, trade_id = self.user(), str(uuid.uuid4())
            return await self.both(f"cancel unknown {trade_id}", lambda side, store: cancel_order(
                user, trade_id, commands=store, clock=self.clock))
        user, *tids = self.trades[idx]
        await self.both(f"cancel request #{idx} ({self.model_order(idx).status})", lambda side, store: cancel_order(
            user, tids[side], commands=store, clock=self.clock))
        if self.draw(st.booleans(), "venue confirms"):
            await self.send(f"canceled #{idx}", self.report(idx, ReportKind.CANCELED))

    async def close(self) -> None:
        """The venue ends an order on its own: expiry, rejection, or an unsolicited cancel."""
        idx = self.order_index(open_only=self.draw(st.booleans(), "open orders only"))
        if idx is None:
            return await self.place()
        kind = self.draw(st.sampled_from([ReportKind.EXPIRED, ReportKind.REJECTED, ReportKind.CANCELED]), "kind")
        reason = self.draw(st.sampled_from([None, "venue says no"]), "reason")
        await self.send(f"{kind} #{idx} ({self.model_order(idx).status}) reason={reason}",
                        self.report(idx, kind, reason=reason))

    async def price(self) -> None:
        symbol = self.draw(st.sampled_from(SYMBOLS), "symbol")
        price = self.draw(st.decimals(Decimal("1"), Decimal("500"), places=2), "price")
        self.prices.set(symbol, price)
        self.trace.append(f"last price of {symbol} is now {price}")

    # -- the books, read from each store and compared ---------------------------------
    def model_books(self) -> dict[str, Any]:
        books = self.model.books
        out: dict[str, Any] = {}
        for user in self.users:
            out[f"{user} balance"] = self.model.balance(user)
            for symbol in SYMBOLS:
                out[f"{user} {symbol} position"] = self.model.position(user, symbol)
            out[f"{user} orders"] = {
                self.tid(MODEL, tid): self.normalize(MODEL, stored.order)
                for (u, tid), stored in books.orders.items() if u == user
            }
            out[f"{user} ledger"] = [
                (str(entry.kind), entry.amount, reference, self.ledger_tid(MODEL, entry.trade_id))
                for u, entry, reference in books.ledger if u == user
            ]
            out[f"{user} executions"] = {execution for u, execution in books.executions if u == user}
            out[f"{user} events"] = [
                self.event(MODEL, encode_event(event)) for event in books.outbox if event.user_id == user
            ]
        out["funding instructions"] = dict(books.funding)
        return out

    async def pg_books(self) -> dict[str, Any]:
        users = self.users
        async with self.pool.acquire() as conn:
            accounts = {r["user_id"]: Balance(r["available"], r["held"]) for r in await conn.fetch(
                "SELECT user_id, available, held FROM accounts WHERE user_id = ANY($1::text[])", users)}
            positions = {(r["user_id"], r["symbol"]): position_from_row(r["symbol"], r) for r in await conn.fetch(
                """SELECT user_id, symbol, quantity, held_quantity, average_price, realized_pnl FROM positions
                   WHERE user_id = ANY($1::text[])""", users)}
            trades = [order_from_row(r) for r in await conn.fetch(
                f"SELECT {TRADE_COLUMNS} FROM trades WHERE user_id = ANY($1::text[])", users)]
            ledger = await conn.fetch(
                """SELECT user_id, kind, amount, reference, trade_id::text AS trade_id FROM ledger
                   WHERE user_id = ANY($1::text[]) ORDER BY entry_id""", users)
            executions = await conn.fetch(
                "SELECT user_id, execution_id FROM executions WHERE user_id = ANY($1::text[])", users)
            outbox = await conn.fetch(
                "SELECT user_id, type, payload FROM outbox WHERE user_id = ANY($1::text[]) ORDER BY id", users)
            instructions = await conn.fetch(
                "SELECT reference, user_id, kind, amount FROM funding_instructions WHERE reference = ANY($1::text[])",
                self.references)
        out: dict[str, Any] = {}
        for user in users:
            out[f"{user} balance"] = accounts.get(user, Balance())
            for symbol in SYMBOLS:
                out[f"{user} {symbol} position"] = positions.get((user, symbol), Position(symbol))
            out[f"{user} orders"] = {
                self.tid(PG, order.trade_id): self.normalize(PG, order) for order in trades if order.user_id == user
            }
            out[f"{user} ledger"] = [(r["kind"], r["amount"], r["reference"], self.ledger_tid(PG, r["trade_id"]))
                                     for r in ledger if r["user_id"] == user]
            out[f"{user} executions"] = {r["execution_id"] for r in executions if r["user_id"] == user}
            out[f"{user} events"] = [self.event(PG, r["payload"]) for r in outbox if r["user_id"] == user]
            assert all(r["type"] == r["payload"]["type"] for r in outbox)
        out["funding instructions"] = {
            r["reference"]: FundingInstruction(r["user_id"], LedgerKind(r["kind"]), r["amount"]) for r in instructions
        }
        return out

    def event(self, side: int, envelope: dict[str, Any]) -> tuple[Any, ...]:
        """An event as both stores must have written it: its ids are each store's own."""
        data = dict(envelope["data"])
        if "tradeId" in data:
            data["tradeId"] = self.tid(side, data["tradeId"])
        return envelope["type"], envelope["userId"], envelope["occurredAt"], data

    async def compare(self) -> None:
        model, pg = self.model_books(), await self.pg_books()
        differences = [
            f"{name}:\n    model    {model[name]}\n    postgres {pg[name]}"
            for name in model if model[name] != pg[name]
        ]
        assert not differences, self.failure("the books differ after the last step:\n" + "\n".join(differences))
        self.check_holds()

    def check_holds(self) -> None:
        """What is held is exactly what the open orders still hold (on the model, hence on both)."""
        for user in self.users:
            orders = [s.order for (u, _), s in self.model.books.orders.items() if u == user]
            assert self.model.balance(user).held == sum((o.held_cash for o in orders), Decimal(0)), \
                self.failure(f"{user}'s held cash is not what the open buys hold")
            for symbol in SYMBOLS:
                held = sum(o.held_shares for o in orders if o.symbol == symbol)
                assert self.model.position(user, symbol).held_quantity == held, \
                    self.failure(f"{user}'s held {symbol} shares are not what the open sells hold")


@pytest.fixture
async def books_pool(scratch_pool: asyncpg.Pool) -> asyncpg.Pool:
    await seed_instruments(scratch_pool)
    return scratch_pool


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
async def test_postgres_books_equal_the_model_after_every_step(books_pool, data):
    run = Differential(books_pool, data)
    await run.open_accounts()
    steps = data.draw(st.sampled_from(range(1, MAX_STEPS + 1)), label="steps")  # uniform; shrinks to 1
    for _ in range(steps):
        await run.step()
    assert not run.constraint_refusals, run.failure(
        "a use case reached a store's constraint instead of a domain refusal:\n" + "\n".join(run.constraint_refusals))
