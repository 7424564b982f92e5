"""Small helpers the route modules share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from fastapi import Request
from pydantic import BaseModel
from starlette.convertors import Convertor, register_url_convertor

from tickerdesk.app.services import NotificationServices, Services
from tickerdesk.config import Settings
from tickerdesk.domain.errors import NotFound
from tickerdesk.entrypoints.http.jsonio import ExactJSONResponse


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def notifications_of(request: Request) -> NotificationServices:
    """The notification stores and channels; every process that serves the API has them."""
    found = services_of(request).notifications
    if found is None:
        raise NotFound("notifications by email, push and SMS are not set up in this process")
    return found


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


class IdText(Convertor[str]):
    """A path segment shaped like a UUID, kept as text (`checked_id` reads it). Declared on
    an id next to literal paths (`/trade/{tradeId:id}` beside `/trade/place`), so that a
    literal path is never taken for an id: `GET /trade/place` is 405 with `Allow: POST`,
    not a lookup of the trade "place"."""

    regex = r"(?:urn:uuid:)?\{?[0-9A-Fa-f]{8}(?:-?[0-9A-Fa-f]{4}){3}-?[0-9A-Fa-f]{12}\}?"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("id", IdText())


def checked_id(value: str, what: str) -> str:
    """A path id that is not a UUID names nothing: 404, like an id that is not there."""
    try:
        return str(UUID(value))
    except ValueError:
        raise NotFound(f"no {what} {value}") from None
