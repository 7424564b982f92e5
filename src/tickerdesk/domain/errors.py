"""Domain errors: each names a rule a command broke, and nothing about transport.

The HTTP entry point maps each class to a status code in one table
(`entrypoints/http/errors.py`); a broker consumer that meets one dead-letters the
message, since retrying a broken rule can never succeed.
"""

from __future__ import annotations

from decimal import Decimal

from tickerdesk.domain.money import plain


class DomainError(Exception):
    """A refusal: the command broke a rule. `code` is the machine-readable name."""

    code = "invalid_request"

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class InvalidRequest(DomainError):
    code = "invalid_request"


class UnknownSymbol(DomainError):
    code = "unknown_symbol"


class InsufficientFunds(DomainError):
    code = "insufficient_funds"

    @classmethod
    def needing(cls, needed: Decimal, available: Decimal) -> InsufficientFunds:
        """The refusal every store gives, in one wording: a client can act on the figures."""
        return cls(f"{plain(needed)!s} is needed and {plain(available)!s} is available")


class InsufficientShares(DomainError):
    code = "insufficient_shares"

    @classmethod
    def needing(cls, symbol: str, needed: int, free: int) -> InsufficientShares:
        """The refusal every store gives, in one wording: a client can act on the figures."""
        return cls(f"{needed} {symbol} shares are needed and {free} are free to sell")


class PriceOutOfBand(DomainError):
    """A limit too far from the market to be anything but a typing error (a fat finger)."""

    code = "price_out_of_band"


class NotFound(DomainError):
    code = "not_found"


class NotCancelable(DomainError):
    code = "not_cancelable"


class IdempotencyConflict(DomainError):
    code = "idempotency_conflict"


class InvalidTransition(DomainError):
    """A report or command would move an order along an edge the state machine lacks."""

    code = "invalid_transition"


class UnsupportedEvent(DomainError):
    """An event of a type or schema version this code does not know (a newer producer)."""

    code = "unsupported_event"


class InvalidCode(DomainError):
    """A contact's verification code that is wrong, expired or used up."""

    code = "invalid_code"


class CodeRecentlySent(DomainError):
    """A new verification code was asked for too soon after the last one."""

    code = "code_recently_sent"


class ContactRefused(DomainError):
    """The mail server or SMS provider refused the address: a code can never reach it."""

    code = "contact_refused"


class ChannelUnavailable(DomainError):
    """The mail server or SMS provider could not be reached now; asking again later may work."""

    code = "channel_unavailable"
