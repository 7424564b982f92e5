"""The OpenAPI document, made exact from what FastAPI generates.

FastAPI sees neither how a route authenticates (a dependency deep in its signature) nor
how it refuses (problem+json, from `errors`), and routes parse their own bodies (exact
decimals), so the generated document lacks the security scheme, documents errors as its
own `HTTPValidationError`, and inlines each body's schema with local `$defs` that do not
resolve. `install` replaces `app.openapi` with one that, once per app:

- declares the bearer (JWT) scheme and applies it to every route that authenticates
  (found in its dependencies: `current_user`, `current_admin`);
- adds the refusals a route gives by the kind of route it is: 401 and 429 (failed
  authentication is limited too) where it authenticates, 403 where it needs the admin
  scope, 400 `invalid_request` for a parameter it cannot take (every route: see
  `inputs.refuse_unstorable_parameters`), and 400/413/422 where it reads a body; the
  refusals of its own are in its decorator (`responses.answers`);
- replaces FastAPI's `HTTPValidationError` answers by those problems;
- moves request bodies and their `$defs` into `components/schemas`, so every `$ref`
  resolves, and documents the ids of `{tradeId:id}`-style paths as UUIDs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from tickerdesk.entrypoints.http.auth import current_admin, current_user
from tickerdesk.entrypoints.http.refusals import (
    BodyTooLarge,
    Forbidden,
    MalformedBody,
    RateLimited,
    RequestInvalid,
    Unauthenticated,
)
from tickerdesk.entrypoints.http.responses import (
    PROBLEM_TYPE,
    Problem,
    problem_codes,
    problem_response,
    status_for,
)
from tickerdesk.entrypoints.http.routes.common import IdText

BEARER = "bearer"
SECURITY_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "A JWT (HS256 or RS256) whose `sub` is the user id; `scope: admin` for the admin and sim "
                   "routes. `tickerdesk token USER [--admin]` prints one.",
}
COMPONENT = "#/components/schemas/"
LOCAL = "#/$defs/"


def install(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = exact(app, generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def exact(app: FastAPI, document: dict[str, Any]) -> dict[str, Any]:
    components = document.setdefault("components", {})
    schemas: dict[str, Any] = components.setdefault("schemas", {})
    components["securitySchemes"] = {BEARER: SECURITY_SCHEME}
    _add_model(schemas, Problem)
    for context in iter_route_contexts(app.routes):
        if not isinstance(context.original_route, APIRoute) or not context.include_in_schema:
            continue
        calls = set(_calls(context.dependant))
        for method in context.methods or ():
            operation = document["paths"][context.path_format][method.lower()]
            _refusals(operation, calls)
            _ids(operation, context.param_convertors)
            if "requestBody" in operation:
                _hoist_body(operation["requestBody"], schemas)
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    components["schemas"] = dict(sorted(schemas.items()))
    return document


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)


def _refusals(operation: dict[str, Any], calls: set[Callable[..., Any]]) -> None:
    responses: dict[str, Any] = operation["responses"]
    generated = responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema", {})
    if generated.get("$ref", "").endswith("/HTTPValidationError"):
        del responses["422"]
    refusals: list[type[Exception]] = [RequestInvalid]  # a parameter: every route, see the module's docstring
    if calls & {current_user, current_admin}:
        operation["security"] = [{BEARER: []}]
        refusals += [Unauthenticated, RateLimited]
    if current_admin in calls:
        refusals.append(Forbidden)
    for refusal in refusals:
        status = 400 if refusal is RequestInvalid else status_for(refusal)  # parameters: see errors._validation_error
        _add_problem(responses, status, str(getattr(refusal, "code")))  # noqa: B009
    if "requestBody" in operation:
        for refusal in (MalformedBody, BodyTooLarge, RequestInvalid):
            _add_problem(responses, status_for(refusal), str(getattr(refusal, "code")))  # noqa: B009
    operation["responses"] = dict(sorted(responses.items()))


def _add_problem(responses: dict[str, Any], status: int, code: str) -> None:
    existing = responses.get(str(status))
    codes = problem_codes(existing) if existing and PROBLEM_TYPE in existing.get("content", {}) else []
    responses[str(status)] = problem_response(status, [*codes, code])


def _ids(operation: dict[str, Any], convertors: dict[str, Any]) -> None:
    """A path id declared `{name:id}` only matches a UUID (anything else is 404)."""
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path" and isinstance(convertors.get(parameter["name"]), IdText):
            parameter["schema"] = {"type": "string", "format": "uuid", "title": parameter["name"]}


def _add_model(schemas: dict[str, Any], model: Any) -> None:
    schema = model.model_json_schema(ref_template=COMPONENT + "{model}")
    for name, definition in schema.pop("$defs", {}).items():
        _register(schemas, name, definition)
    _register(schemas, model.__name__, schema)


def _hoist_body(body: dict[str, Any], schemas: dict[str, Any]) -> None:
    """A body's schema (with its `$defs`) becomes a component of its own, by its title."""
    for content in body.get("content", {}).values():
        schema = _relocated(content["schema"])
        for name, definition in schema.pop("$defs", {}).items():
            _register(schemas, name, definition)
        if "title" in schema and schema.get("type") == "object":
            _register(schemas, schema["title"], schema)
            schema = {"$ref": COMPONENT + schema["title"]}
        content["schema"] = schema


def _relocated(value: Any) -> Any:
    """`value` with every `#/$defs/X` reference pointing at `#/components/schemas/X`."""
    if isinstance(value, dict):
        return {k: (COMPONENT + v.removeprefix(LOCAL) if k == "$ref" and isinstance(v, str) and v.startswith(LOCAL)
                    else _relocated(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_relocated(v) for v in value]
    return value


def _register(schemas: dict[str, Any], name: str, schema: dict[str, Any]) -> None:
    if name in schemas and schemas[name] != schema:
        raise ValueError(f"two different schemas are named {name}: rename one of the models")
    schemas[name] = schema
