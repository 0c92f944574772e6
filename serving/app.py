"""The serving app factory: ``create_app(settings)`` (``uvicorn serving.app:create_app --factory``).

Nothing happens at import: the lifespan loads the models, opens the online store and starts the
prediction log, and on shutdown stops polling and flushes the log.
"""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from mlsys_assets.scoring.rules import parse_rules
from mlsys_assets.settings import Settings, get_settings
from serving.errors import http_error, validation_error
from serving.metrics import ServingMetrics
from serving.middleware import MetricsMiddleware
from serving.routes import admin, ops, predict
from serving.security import BodyLimitMiddleware
from serving.services import Services

logger = logging.getLogger(__name__)

# While serving: how long a thread may hold the GIL when another wants it (Python's default 5 ms).
GIL_SWITCH_SECONDS = 0.0005
# The contract's endpoints (docs/architecture.md "HTTP"): metric labels are these, anything
# else is "other".
ENDPOINTS = (
    "/predict",
    "/predict/batch",
    "/feedback",
    "/health",
    "/ready",
    "/metrics",
    "/model",
    "/admin/reload",
)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; refuses a production profile without an admin token, or bad rules."""
    settings = settings or get_settings()
    if settings.profile == "prod" and not settings.admin_secret:
        raise RuntimeError("profile=prod needs MLSYS_ADMIN_TOKEN: refusing to start serving")
    rules = parse_rules(settings.serving_rules)
    metrics = ServingMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        metrics.worker_started()
        services = await run_in_threadpool(Services.start, settings, rules, metrics)
        app.state.services = services
        # Everything loaded so far (MLflow, pandas, the models) lives as long as the process:
        # keep it out of the cyclic GC, whose full passes over it were the p99 latency.
        gc.collect()
        gc.freeze()
        # The log writer and the registry poller are threads: when one runs Python, a request
        # waits for the GIL up to the switch interval (5 ms by default, a p99 of its own).
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(GIL_SWITCH_SECONDS)
        try:
            yield
        finally:
            sys.setswitchinterval(switch_interval)
            await run_in_threadpool(services.stop)
            metrics.worker_stopped()

    app = FastAPI(
        title="mlsys serving",
        summary="Flight delay predictions from the flight_delay champion (and its challenger).",
        version="1",
        lifespan=lifespan,
    )
    app.state.settings = settings
    for module in (predict, ops, admin):
        app.include_router(module.router)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, _unexpected)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.serving_max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics, paths=ENDPOINTS)
    return app


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    """Last-resort net: a bug answers 503 (retryable) with no internals, and is logged."""
    logger.exception("unexpected error on %s", request.url.path, exc_info=exc)
    return JSONResponse({"detail": "temporarily unable to answer"}, status_code=503)
