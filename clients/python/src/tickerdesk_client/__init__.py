"""A Python client of the tickerdesk brokerage API."""

from tickerdesk_client.client import AsyncClient, Client
from tickerdesk_client.errors import (
    Forbidden,
    IdempotencyConflict,
    InsufficientFunds,
    InsufficientShares,
    InvalidRequest,
    NotCancelable,
    NotFound,
    RateLimited,
    ServerError,
    TickerdeskError,
    Unauthenticated,
)
from tickerdesk_client.models import (
    Balance,
    Execution,
    Holding,
    Notification,
    Portfolio,
    Preview,
    Stock,
    Trade,
)
from tickerdesk_client.webhooks import WebhookVerificationError, verify_webhook

__all__ = [
    "AsyncClient", "Balance", "Client", "Execution", "Forbidden", "Holding", "IdempotencyConflict",
    "InsufficientFunds", "InsufficientShares", "InvalidRequest", "NotCancelable", "NotFound", "Notification",
    "Portfolio", "Preview", "RateLimited", "ServerError", "Stock", "TickerdeskError", "Trade", "Unauthenticated",
    "WebhookVerificationError", "verify_webhook",
]
