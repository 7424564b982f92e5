"""Deposits and withdrawals: the entry point of the external funding rail.

A reference (the rail's idempotency key) makes a retried instruction harmless.
"""

from __future__ import annotations

from decimal import Decimal

from tickerdesk.app.ports import Clock, CommandStore
from tickerdesk.domain.accounting import Balance, LedgerEntry, LedgerKind
from tickerdesk.domain.ids import new_event_id


async def fund(
    user_id: str,
    kind: LedgerKind,
    amount: Decimal,
    reference: str | None,
    *,
    commands: CommandStore,
    clock: Clock,
) -> Balance | None:
    """Apply a deposit or withdrawal; None when `reference` was applied before."""
    if kind not in (LedgerKind.DEPOSIT, LedgerKind.WITHDRAWAL):
        raise ValueError(f"{kind} is not a funding instruction")
    updated = await commands.fund(user_id, LedgerEntry(kind, amount), reference, new_event_id(), clock.now())
    return None if updated is None else updated.balance
