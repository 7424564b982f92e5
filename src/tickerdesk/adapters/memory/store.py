"""The books in memory, kept with the domain objects themselves.

`Balance.post` refuses an overdraft and `Position.hold` refuses more shares than are
owned: the same rules PostgreSQL's CHECK constraints enforce on the production store.
The use-case unit tests run on this store, and the differential test
(`tests/integration/test_money_model.py`) runs one random sequence of commands here
and on PostgreSQL and compares the books after every step.

A unit of work holds the store's one lock (row locks, in miniature) and works on the
live state; if it raises, the state from before it is put back (a rollback).
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from tickerdesk.app.ports import AfterCommit, NewOrder
from tickerdesk.domain.accounting import Balance, FundingInstruction, LedgerEntry, LedgerKind, Position
from tickerdesk.domain.events import BalanceUpdated, Event, PortfolioUpdated
from tickerdesk.domain.orders import Order, Side


@dataclass
class _StoredOrder:
    order: Order
    request_hash: str
    idempotency_key: str | None


@dataclass
class Books:
    """Everything the store holds; a unit of work snapshots it to roll back."""

    accounts: dict[str, Balance] = field(default_factory=dict)
    positions: dict[tuple[str, str], Position] = field(default_factory=dict)
    orders: dict[tuple[str, str], _StoredOrder] = field(default_factory=dict)
    executions: set[tuple[str, str]] = field(default_factory=set)
    ledger: list[tuple[str, LedgerEntry, str | None]] = field(default_factory=list)  # user, entry, reference
    funding: dict[str, FundingInstruction] = field(default_factory=dict)  # by reference, across users
    outbox: list[Event] = field(default_factory=list)


async def _nothing_after(events: Sequence[Event]) -> None:
    return None


class MemoryCommandStore:
    def __init__(self, after_commit: AfterCommit = _nothing_after):
        self.books = Books()
        self._after_commit = after_commit
        self._lock = asyncio.Lock()

    # -- what tests read -------------------------------------------------------------
    def balance(self, user_id: str) -> Balance:
        return self.books.accounts.get(user_id, Balance())

    def position(self, user_id: str, symbol: str) -> Position:
        return self.books.positions.get((user_id, symbol), Position(symbol))

    def order(self, user_id: str, trade_id: str) -> Order:
        return self.books.orders[(user_id, trade_id)].order

    # -- the port ----------------------------------------------------------------------
    async def place(self, new: NewOrder) -> BalanceUpdated | PortfolioUpdated | None:
        order, at = new.placed.order, new.placed.occurred_at
        user = order.user_id
        books = self.books
        async with self._lock:
            # The hold first, as the placement statement takes it before inserting the trade.
            update: BalanceUpdated | PortfolioUpdated
            if order.side is Side.BUY:
                hold = LedgerEntry(LedgerKind.HOLD, order.initial_cash_hold, order.trade_id)
                balance = self.balance(user).post(hold)  # no account is a zero balance: refused
                update = BalanceUpdated(id=new.update_event_id, user_id=user, occurred_at=at, balance=balance)
            else:
                position = self.position(user, order.symbol).hold(order.quantity)
                update = PortfolioUpdated(id=new.update_event_id, user_id=user, occurred_at=at, position=position)
            if self._keys_taken(user, order.client_order_id, new.idempotency_key):
                return None
            if isinstance(update, BalanceUpdated):
                books.accounts[user] = update.balance
                books.ledger.append((user, hold, None))
            else:
                books.positions[(user, order.symbol)] = update.position
            books.orders[(user, order.trade_id)] = _StoredOrder(order, new.request_hash, new.idempotency_key)
            books.outbox += [new.placed, update]
        await self._after_commit([new.placed, update])
        return update

    def _keys_taken(self, user_id: str, client_order_id: str | None, idempotency_key: str | None) -> bool:
        return bool(self._find(user_id, client_order_id, idempotency_key))

    def _find(self, user_id: str, client_order_id: str | None, idempotency_key: str | None) -> list[_StoredOrder]:
        return [
            s for (user, _), s in self.books.orders.items()
            if user == user_id and (
                (client_order_id is not None and s.order.client_order_id == client_order_id)
                or (idempotency_key is not None and s.idempotency_key == idempotency_key))
        ]

    async def find_by_keys(
        self, user_id: str, client_order_id: str | None, idempotency_key: str | None
    ) -> list[tuple[Order, str]]:
        return [(s.order, s.request_hash) for s in self._find(user_id, client_order_id, idempotency_key)]

    async def fund(
        self, user_id: str, entry: LedgerEntry, reference: str | None, event_id: str, at: datetime
    ) -> BalanceUpdated | None:
        books = self.books
        async with self._lock:
            # The balance first, as the funding statement changes the account before it
            # records the instruction: an overdraft is refused whatever the reference.
            balance = books.accounts.get(user_id, Balance()).post(entry)
            if reference is not None and reference in books.funding:
                return None
            books.accounts[user_id] = balance
            books.ledger.append((user_id, entry, reference))
            if reference is not None:
                books.funding[reference] = FundingInstruction(user_id, entry.kind, entry.amount)
            updated = BalanceUpdated(id=event_id, user_id=user_id, occurred_at=at, balance=balance)
            books.outbox.append(updated)
        await self._after_commit([updated])
        return updated

    async def funding_instruction(self, reference: str) -> FundingInstruction | None:
        return self.books.funding.get(reference)

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[MemoryUnitOfWork]:
        async with self._lock:
            before = copy.copy(self.books)
            before.accounts, before.positions = dict(self.books.accounts), dict(self.books.positions)
            before.orders, before.executions = dict(self.books.orders), set(self.books.executions)
            before.ledger, before.outbox = list(self.books.ledger), list(self.books.outbox)
            uow = MemoryUnitOfWork(self.books)
            try:
                yield uow
            except BaseException:
                self.books = before
                raise
        if uow.events:
            await self._after_commit(uow.events)


class MemoryUnitOfWork:
    def __init__(self, books: Books):
        self.books = books
        self.events: list[Event] = []

    async def lock_order(self, user_id: str, trade_id: str) -> Order | None:
        stored = self.books.orders.get((user_id, trade_id))
        return stored.order if stored else None

    async def save_order(self, order: Order) -> None:
        # Replaced, never mutated: a rollback restores the dict it copied, which still
        # holds the old record.
        key = (order.user_id, order.trade_id)
        self.books.orders[key] = replace(self.books.orders[key], order=order)

    async def record_execution(
        self, order: Order, execution_id: str, quantity: int, price: Decimal, at: datetime
    ) -> bool:
        key = (order.user_id, execution_id)
        if key in self.books.executions:
            return False
        self.books.executions.add(key)
        return True

    async def post(self, user_id: str, entries: Sequence[LedgerEntry], trade_id: str | None,
                   at: datetime) -> Balance:
        balance = self.books.accounts.get(user_id, Balance()).post(*entries)
        self.books.accounts[user_id] = balance
        self.books.ledger += [(user_id, e, None) for e in entries]
        return balance

    async def lock_position(self, user_id: str, symbol: str) -> Position:
        return self.books.positions.get((user_id, symbol), Position(symbol))

    async def save_position(self, user_id: str, position: Position, at: datetime) -> None:
        self.books.positions[(user_id, position.symbol)] = position

    async def add_events(self, events: Sequence[Event]) -> None:
        self.books.outbox += events
        self.events.extend(events)
