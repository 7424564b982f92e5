"""The FastAPI application: routes, auth, error mapping. Thin: every route parses,
authorizes, calls one use case or query, and maps the result.

The app is given its `Services` (ports filled with adapters by `tickerdesk.bootstrap`)
or a way to open a process that has them; it never names an adapter itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Protocol

from fastapi import Depends, FastAPI

from tickerdesk import __version__
from tickerdesk.app.services import Services
from tickerdesk.config import Settings
from tickerdesk.entrypoints import collector
from tickerdesk.entrypoints.http import asyncapi, docs, errors, openapi
from tickerdesk.entrypoints.http.auth import TokenVerifier
from tickerdesk.entrypoints.http.cached_reads import CachedReads
from tickerdesk.entrypoints.http.inputs import refuse_unstorable_parameters
from tickerdesk.entrypoints.http.jsonio import ExactJSONResponse
from tickerdesk.entrypoints.http.middleware import RequestContext
from tickerdesk.entrypoints.http.routes import (
    account,
    admin,
    contacts,
    deliveries,
    dev,
    health,
    market,
    preferences,
    push_subscriptions,
    stream,
    trading,
    unsubscribe,
    webhooks,
)
from tickerdesk.entrypoints.http.security_headers import SecurityHeaders
from tickerdesk.entrypoints.web import site


class Process(Protocol):
    """What the app serves: services, and a life to start and end."""

    services: Services

    async def start(self) -> None: ...

    async def close(self) -> None: ...


def create_app(
    settings: Settings,
    services: Services | None = None,
    open_process: Callable[[], Awaitable[Process]] | None = None,
    on_shutdown: Callable[[], None] | None = None,
) -> FastAPI:
    """Serve `services` if given (tests own their process), else open a process at
    start-up and close it at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if services is not None:  # the caller owns it (set on app.state below)
            yield
            return
        assert open_process is not None, "create_app needs services or open_process"
        opened = await open_process()
        await opened.start()
        app.state.services = opened.services
        collector.settle_after_start()
        try:
            yield
        finally:
            await opened.close()
            if on_shutdown is not None:
                on_shutdown()

    app = FastAPI(
        title="tickerdesk",
        version=__version__,
        description="The backend of a retail stock brokerage.",
        default_response_class=ExactJSONResponse,
        lifespan=lifespan,
        dependencies=[Depends(refuse_unstorable_parameters)],  # every route, also one added later
        docs_url=None, redoc_url=None, swagger_ui_oauth2_redirect_url=None,  # served from the package: see docs
        # FastAPI's OpenTelemetry hooks look up the providers on every request; we export Prometheus metrics
        # (tickerdesk.metrics) and structured logs instead, so they are off rather than asked each time.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.verifier = TokenVerifier(settings)
    if services is not None:
        app.state.services = services
    errors.install(app)
    for module in (trading, account, stream, webhooks, market, admin, health, preferences, contacts,
                   push_subscriptions, deliveries, unsubscribe):
        app.include_router(module.router)
    dev_login = dev.enabled(settings.dev_login, settings.jwt_secret)
    if dev_login:  # `tickerdesk up`: never in an `api` replica unless TICKERDESK_DEV_LOGIN says so
        app.include_router(dev.router)
    site.install(app, dev_login=dev_login)  # the web application at /
    docs.install(app)
    asyncapi.install(app)
    openapi.install(app)
    app.add_middleware(CachedReads, api=app)  # innermost of ours: behind the request id and headers
    app.add_middleware(RequestContext, access_log=settings.access_log)
    app.add_middleware(SecurityHeaders)
    return app
