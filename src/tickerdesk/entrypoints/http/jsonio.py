"""JSON in and out with exact decimals.

Request bodies are parsed here, not by the framework, because the stdlib parser
turns `0.10000000000000001` into the float 0.1 before any validator sees it:
we parse numbers straight to `Decimal`, refuse NaN and Infinity, an object that
repeats a key and text PostgreSQL cannot hold (see inputs), and bound the body's
size before reading it. Responses render `Decimal` as exact JSON numbers.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, TypeVar

import simplejson
from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from tickerdesk.codec import dumps_bytes
from tickerdesk.entrypoints.http.inputs import first_unstorable
from tickerdesk.entrypoints.http.refusals import BodyTooLarge, InvalidField, MalformedBody, RequestInvalid

M = TypeVar("M", bound=BaseModel)



class ExactJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return dumps_bytes(content)


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number tickerdesk accepts")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object with each key once: a repeated key would silently take the last value,
    and a client (or a proxy that checks the first) may have meant the other one."""
    obj = dict(pairs)
    if len(obj) < len(pairs):
        repeated = next(key for key, count in Counter(key for key, _ in pairs).items() if count > 1)
        raise MalformedBody(f"the body repeats the key {repeated!r} in one object; send each key once")
    return obj


def parse_json(raw: bytes) -> Any:
    try:
        data = simplejson.loads(raw, use_decimal=True, parse_constant=_refuse_constant, object_pairs_hook=_object)
    except (ValueError, RecursionError) as error:  # JSONDecodeError is a ValueError
        raise MalformedBody(f"the body is not valid JSON: {error}") from None
    if found := first_unstorable(data):
        raise InvalidField(*found)
    return data


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise BodyTooLarge(f"the body must be at most {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"the body must be at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def parse_model(request: Request, model: type[M], limit: int) -> M:
    data = parse_json(await read_body(request, limit))
    if not isinstance(data, dict):
        raise MalformedBody("the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise RequestInvalid(error) from None

