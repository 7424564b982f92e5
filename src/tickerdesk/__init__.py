"""tickerdesk: the backend of a retail stock brokerage."""

__version__ = "0.1.0"
