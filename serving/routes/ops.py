"""Operator endpoints: liveness, readiness, Prometheus metrics and what is being served."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from mlsys_assets.stream.freshness import read_freshness
from serving.decisions import lag
from serving.deps import ServicesDep
from serving.schemas import Health, ModelInfo, Readiness, ServedVersion

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=Health)
async def health(services: ServicesDep) -> Health:
    """Liveness: the process answers (whatever it serves, even the baseline)."""
    champion = services.watcher.state.champion
    return Health(status="ok", model_version=champion.version if champion else None)


@router.get(
    "/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready (see reasons)."}},
)
async def ready(services: ServicesDep) -> Response:
    """Readiness: a model is loaded and the online store answers; 503 otherwise."""
    has_model = services.watcher.state.champion is not None
    store_ok = await run_in_threadpool(services.features.ready)
    reasons = [
        reason
        for reason, ok in (("no model loaded", has_model), ("online store unusable", store_ok))
        if not ok
    ]
    body = Readiness(ready=not reasons, model=has_model, online_store=store_ok, reasons=reasons)
    return JSONResponse(body.model_dump(), status_code=200 if body.ready else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(services: ServicesDep) -> Response:
    """Prometheus exposition: requests (HTTP and gRPC), latency, predictions, fallbacks, model
    versions, the online store's freshness per streamed source and the decisions stream's lag."""
    try:
        state = await run_in_threadpool(services.features.state)
        services.metrics.set_freshness(read_freshness(state))
    except Exception:  # noqa: BLE001 - the store is down: the other metrics still answer
        pass
    if services.decisions is not None:
        groups = services.settings.serving.decisions_groups
        try:
            behind = await run_in_threadpool(lag, services.decisions.stream, groups)
            for group, count in behind.items():
                services.metrics.decisions_lag.labels(group).set(count)
        except Exception:  # noqa: BLE001 - the stream is down: the other metrics still answer
            pass
    return Response(services.metrics.render(), media_type=CONTENT_TYPE_LATEST)


@router.get("/model", response_model=ModelInfo)
async def model(services: ServicesDep) -> ModelInfo:
    """The versions being served and their share of traffic."""
    state = services.watcher.state
    share = services.settings.loop.canary_share if state.challenger is not None else 0.0
    versions: list[ServedVersion] = []
    if state.champion is not None:
        versions.append(
            ServedVersion(
                variant="champion",
                version=state.champion.version,
                share=1.0 - share,
                threshold=state.champion.threshold,
            )
        )
        if state.challenger is not None:
            versions.append(
                ServedVersion(
                    variant="challenger",
                    version=state.challenger.version,
                    share=share,
                    threshold=state.challenger.threshold,
                )
            )
    else:
        versions.append(
            ServedVersion(
                variant="fallback",
                version=state.baseline_version,
                share=1.0,
                threshold=state.threshold,
            )
        )
    return ModelInfo(
        model_name=services.settings.registry.model_name,
        versions=versions,
        previous_champion=state.previous.version if state.previous else None,
        registry_reachable=services.watcher.last_refresh_ok,
        last_error=services.watcher.last_error,
    )
