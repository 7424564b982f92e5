"""Structured logs: JSON lines (or console text for a person), with the request id bound."""

from __future__ import annotations

import logging
import sys

import structlog


def configure(level: str = "info", json: bool = True) -> None:
    logging.basicConfig(format="%(message)s", level=level.upper())
    for chatty in ("alembic", "pgserver"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    # Colours only for a terminal: in a file or a pipe the escape codes are noise to grep through.
    renderer = (structlog.processors.JSONRenderer() if json
                else structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty()))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=True,
    )
