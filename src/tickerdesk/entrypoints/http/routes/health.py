"""Liveness, readiness and metrics: public, for load balancers and Prometheus."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tickerdesk.entrypoints.http.jsonio import ExactJSONResponse
from tickerdesk.entrypoints.http.responses import Health, Readiness, answers
from tickerdesk.entrypoints.http.routes.common import services_of

router = APIRouter(tags=["health"])


@router.get("/healthz", responses=answers(200, Health))
async def healthz() -> ExactJSONResponse:
    return ExactJSONResponse({"status": "ok"})


@router.get("/readyz", responses=answers(200, Readiness, also={
    503: (Readiness, "A dependency is down: `checks` says which", None)}))
async def readyz(request: Request) -> ExactJSONResponse:
    services = services_of(request)
    checks = {}
    for name, check in services.checks.items():
        try:
            await asyncio.wait_for(check(), 2.0)
            checks[name] = "ok"
        except Exception as error:  # readiness reports, it does not raise
            checks[name] = f"down: {type(error).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return ExactJSONResponse({"status": "ready" if ready else "unavailable", "checks": checks},
                             status_code=200 if ready else 503)


@router.get("/metrics", response_class=PlainTextResponse,
            responses=answers(200, None, description="Prometheus metrics, in its text format"))
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
