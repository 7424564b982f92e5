"""The production api app, built by uvicorn in each worker process (`tickerdesk api`)."""

from __future__ import annotations

from fastapi import FastAPI

from tickerdesk.config import Settings
from tickerdesk.bootstrap import Runtime
from tickerdesk.entrypoints.http.app import create_app


def create() -> FastAPI:
    from tickerdesk.entrypoints.cli import _secret
    from tickerdesk.logs import configure

    settings = _secret(Settings())
    configure(settings.log_level, settings.log_json)
    return create_app(settings, open_runtime=lambda: Runtime.open_api(settings))
