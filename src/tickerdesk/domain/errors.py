"""Domain errors: each names a rule a command broke. The API maps them to problem codes."""


class DomainError(Exception):
    code = "invalid_request"
    status = 422

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class InvalidRequest(DomainError):
    code = "invalid_request"
    status = 422


class UnknownSymbol(DomainError):
    code = "unknown_symbol"
    status = 422


class InsufficientFunds(DomainError):
    code = "insufficient_funds"
    status = 422


class InsufficientShares(DomainError):
    code = "insufficient_shares"
    status = 422


class NotFound(DomainError):
    code = "not_found"
    status = 404


class NotCancelable(DomainError):
    code = "not_cancelable"
    status = 409


class IdempotencyConflict(DomainError):
    code = "idempotency_conflict"
    status = 409


class InvalidTransition(DomainError):
    """A report or command would move an order along an edge the state machine lacks."""

    code = "invalid_transition"
    status = 409
