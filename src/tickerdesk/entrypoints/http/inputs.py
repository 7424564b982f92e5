"""What the edge accepts as text, integers and times, so that no input reaches
PostgreSQL in a form it cannot hold: there it would fail as a 500, after a
connection and maybe a transaction were spent on it.

- Text: PostgreSQL's `text` cannot hold NUL, and asyncpg cannot encode a lone
  surrogate (which JSON's `"\\ud800"` or a token's `sub` can carry). Every query and
  path parameter of every route passes `refuse_unstorable_parameters` (an app-wide
  dependency), every string of a JSON body `first_unstorable` (see jsonio), a token's
  `sub` the verifier.
- Integers: the positions clients send back (`after`, `cursor`, `Last-Event-ID`) are
  bigints; `MAX_BIGINT` bounds them.
- Times: `Instant` is a time that has a UTC equivalent Python can represent.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator
from starlette.requests import HTTPConnection

MAX_BIGINT = 2**63 - 1  # PostgreSQL's bigint


def unstorable(text: str) -> str | None:
    """Why PostgreSQL cannot hold `text`, or None if it can."""
    if "\x00" in text:
        return "must not contain NUL characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text (it holds a lone surrogate)"
    return None


async def refuse_unstorable_parameters(connection: HTTPConnection) -> None:
    """400 for a query or path parameter PostgreSQL cannot hold, named like any other
    parameter error. Checked for every route, so a new route needs nothing."""
    if connection.scope["type"] != "http":
        return  # the WebSocket takes no text parameters
    params = [("query", name, value) for name, value in connection.query_params.multi_items()]
    params += [("path", name, value) for name, value in connection.path_params.items() if isinstance(value, str)]
    errors = [{"loc": (where, name), "msg": reason, "type": "value_error"}
              for where, name, value in params if (reason := unstorable(value))]
    if errors:
        raise RequestValidationError(errors)


def first_unstorable(data: Any) -> tuple[str, str] | None:
    """The first string (key or value) of parsed JSON that PostgreSQL cannot hold: its
    field (`userId`, `eventTypes.0`) and why; None if there is none."""
    for field, text in _strings(data):
        if reason := unstorable(text):
            return field or "body", reason
    return None


def _strings(data: Any) -> Iterator[tuple[str, str]]:
    # A stack, not recursion: a body may nest as deep as the parser allows.
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        field, value = stack.pop()
        if isinstance(value, str):
            yield field, value
        elif isinstance(value, dict):
            for key, item in value.items():
                name = f"{field}.{key}" if field else key
                yield name, key
                stack.append((name, item))
        elif isinstance(value, list):
            stack.extend((f"{field}.{i}" if field else str(i), item) for i, item in enumerate(value))


def _utc(value: datetime) -> datetime:
    """In UTC, as PostgreSQL keeps a timestamptz; a time without an offset is UTC (as
    every time tickerdesk shows is). One whose UTC falls before year 1 or after 9999
    cannot be sent to PostgreSQL: a 400, not an overflow."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("must be a time between the years 1 and 9999 in UTC") from None


Instant = Annotated[datetime, AfterValidator(_utc)]
