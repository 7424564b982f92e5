"""Small helpers the route modules share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request

from ...runtime import Runtime
from ..jsonio import ExactJSONResponse


def runtime_of(request: Request) -> Runtime:
    return request.app.state.runtime


def page(items: list[dict[str, Any]], limit: int, key: Callable[[dict[str, Any]], Any]) -> ExactJSONResponse:
    """A page of items, newest first, with the cursor of the next page (null at the end)."""
    next_cursor = str(key(items[-1])) if len(items) == limit else None
    return ExactJSONResponse({"items": items, "nextCursor": next_cursor})
