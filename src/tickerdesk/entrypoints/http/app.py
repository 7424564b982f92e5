"""The FastAPI application: routes, auth, error mapping. Thin: every route parses,
authorizes, calls one use case or query, and maps the result."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from tickerdesk import __version__
from tickerdesk.config import Settings
from tickerdesk.bootstrap import Runtime
from tickerdesk.entrypoints.http import errors
from tickerdesk.entrypoints.http.auth import TokenVerifier
from tickerdesk.entrypoints.http.jsonio import ExactJSONResponse
from tickerdesk.entrypoints.http.middleware import RequestContext
from tickerdesk.entrypoints.http.routes import account, admin, health, market, stream, trading, webhooks


def create_app(
    settings: Settings,
    runtime: Runtime | None = None,
    open_runtime: Callable[[], Awaitable[Runtime]] | None = None,
    on_shutdown: Callable[[], None] | None = None,
) -> FastAPI:
    """Serve `runtime` if given (tests), else open one at start-up and close it at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if runtime is not None:  # the caller owns it (set on app.state below)
            yield
            return
        opened = await open_runtime()
        await opened.start()
        app.state.runtime = opened
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
    )
    app.state.verifier = TokenVerifier(settings)
    if runtime is not None:
        app.state.runtime = runtime
    errors.install(app)
    for module in (trading, account, stream, webhooks, market, admin, health):
        app.include_router(module.router)
    app.add_middleware(RequestContext)
    return app
