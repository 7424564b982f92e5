"""Deposits and withdrawals: the entry point of the external funding rail.

A reference (the rail's idempotency key) makes a retried instruction harmless, and
names one instruction across all users: reused for another user, kind or amount it
is a conflict, as a placement's idempotency key reused for another order is.
"""

from __future__ import annotations

from decimal import Decimal

from tickerdesk.app.ports import Clock, CommandStore
from tickerdesk.domain.accounting import Balance, FundingInstruction, LedgerEntry, LedgerKind
from tickerdesk.domain.errors import IdempotencyConflict, InsufficientFunds
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
    """Apply a deposit or withdrawal; None when `reference` was applied before to this
    same instruction. IdempotencyConflict when it names a different one."""
    if kind not in (LedgerKind.DEPOSIT, LedgerKind.WITHDRAWAL):
        raise ValueError(f"{kind} is not a funding instruction")
    instruction = FundingInstruction(user_id, kind, amount)
    try:
        updated = await commands.fund(user_id, LedgerEntry(kind, amount), reference, new_event_id(), clock.now())
    except InsufficientFunds:
        # A retried withdrawal finds the money it took gone: it is still a retry.
        if reference is None or (existing := await commands.funding_instruction(reference)) is None:
            raise
        _check_replay(existing, instruction)
        return None
    if updated is not None:
        return updated.balance
    assert reference is not None  # only a reference can make a store write nothing
    _check_replay(await commands.funding_instruction(reference), instruction)
    return None


def _check_replay(existing: FundingInstruction | None, instruction: FundingInstruction) -> None:
    if existing != instruction:
        raise IdempotencyConflict("this funding reference was used for a different instruction")
