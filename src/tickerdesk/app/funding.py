"""Deposits and withdrawals: the entry point of the external funding rail.

A reference (the rail's idempotency key) makes a retried instruction harmless.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from tickerdesk.adapters.postgres.commands import Commands
from tickerdesk.domain.accounting import Balance, LedgerEntry, LedgerKind
from tickerdesk.domain.events import Event, EventType


async def fund(
    user_id: str,
    kind: LedgerKind,
    amount: Decimal,
    reference: str | None,
    *,
    commands: Commands,
    now: datetime,
) -> Balance | None:
    """Apply a deposit or withdrawal; None when `reference` was applied before."""
    assert kind in (LedgerKind.DEPOSIT, LedgerKind.WITHDRAWAL)
    event = Event(EventType.BALANCE_UPDATED, user_id, now, {})  # data is built in SQL
    return await commands.fund(user_id, LedgerEntry(kind, amount), reference, event)
