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
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from mlsys_assets.scoring.rules import parse_rules
from mlsys_assets.settings import Settings, get_settings
from serving.errors import http_error, validation_error
from serving.fast_lane import FastLane
from serving.metrics import ServingMetrics
from serving.middleware import MetricsMiddleware
from serving.routes import admin, ops, predict, v2
from serving.security import BodyLimitMiddleware
from serving.services import Services
from serving.v2.grpc_service import start_grpc_server

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
    "/v2/health/live",
    "/v2/health/ready",
)
V2_MODEL_PATHS = ("/v2/models/{name}", "/v2/models/{name}/ready", "/v2/models/{name}/infer")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; refuses a production profile without an admin token, or bad rules."""
    settings = settings or get_settings()
    if settings.profile == "prod" and not settings.admin_secret:
        raise RuntimeError(
            "profile=prod needs MLSYS_BACKENDS__ADMIN_TOKEN: refusing to start serving"
        )
    rules = parse_rules(settings.serving.rules)
    metrics = ServingMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        metrics.worker_started()
        services = await run_in_threadpool(Services.start, settings, rules, metrics)
        app.state.services = services
        grpc_server = None
        if settings.serving.grpc_port:  # V2 over gRPC on this loop, beside HTTP
            grpc_server = await start_grpc_server(
                services, settings.serving.grpc_host, settings.serving.grpc_port
            )
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
            if grpc_server is not None:
                await grpc_server.stop(grace=5)
            await run_in_threadpool(services.stop)
            metrics.worker_stopped()

    # /docs and /redoc with Swagger UI and ReDoc served from the fastapi-offline package: they
    # render on a machine without internet (FastAPI's own pages load them from a CDN).
    app = FastAPIOffline(
        title="mlsys serving",
        summary="Flight delay predictions from the flight_delay champion (and its challenger).",
        version="1",
        lifespan=lifespan,
    )
    app.state.settings = settings
    for module in (predict, ops, admin, v2):
        app.include_router(module.router)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, _unexpected)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.serving.max_body_bytes)
    v2_paths = tuple(p.format(name=settings.registry.model_name) for p in V2_MODEL_PATHS)
    app.add_middleware(MetricsMiddleware, metrics=metrics, paths=ENDPOINTS + v2_paths)
    # The hot paths in front of the stack FastAPI builds (on the first request, once every
    # middleware is added): serving/fast_lane.py.
    build_stack = app.build_middleware_stack
    app.build_middleware_stack = lambda: FastLane(  # type: ignore[method-assign]
        build_stack(),
        state=app.state,
        metrics=metrics,
        model_name=settings.registry.model_name,
        max_body_bytes=settings.serving.max_body_bytes,
        on_error=_unexpected,
        infer_body=v2.infer_body,
    )
    return app


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    """Last-resort net: a bug answers 503 (retryable) with no internals, and is logged."""
    logger.exception("unexpected error on %s", request.url.path, exc_info=exc)
    key = "error" if request.url.path.startswith("/v2/") else "detail"
    return JSONResponse({key: "temporarily unable to answer"}, status_code=503)
