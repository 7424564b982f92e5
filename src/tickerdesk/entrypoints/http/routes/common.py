"""Small helpers the route modules share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from fastapi import Request
from pydantic import BaseModel

from tickerdesk.app.services import Services
from tickerdesk.config import Settings
from tickerdesk.domain.errors import NotFound
from tickerdesk.entrypoints.http.jsonio import ExactJSONResponse


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def page(items: list[dict[str, Any]], limit: int, key: Callable[[dict[str, Any]], Any]) -> ExactJSONResponse:
    """A page of items, newest first, with the cursor of the next page (null at the end)."""
    next_cursor = str(key(items[-1])) if len(items) == limit else None
    return ExactJSONResponse({"items": items, "nextCursor": next_cursor})


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI for a body the route parses itself (exact decimals; see jsonio)."""
    schema = model.model_json_schema(by_alias=True)
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def checked_id(value: str, what: str) -> str:
    """A path id that is not a UUID names nothing: 404, like an id that is not there."""
    try:
        return str(UUID(value))
    except ValueError:
        raise NotFound(f"no {what} {value}") from None
