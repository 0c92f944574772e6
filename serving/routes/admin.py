"""Admin endpoints, behind the bearer token of ``MLSYS_BACKENDS__ADMIN_TOKEN``."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from serving.deps import ServicesDep
from serving.schemas import Detail, ReloadResponse
from serving.security import require_admin

router = APIRouter(
    prefix="/admin",
    tags=["admin"],
    dependencies=[Depends(require_admin)],
    responses={401: {"model": Detail}, 403: {"model": Detail}},
)


@router.post("/reload", response_model=ReloadResponse)
async def reload(services: ServicesDep) -> ReloadResponse:
    """Re-read the registry aliases now and swap in what changed (no request fails meanwhile);
    every other worker does the same within a second."""
    result = await run_in_threadpool(services.watcher.reload_everywhere)
    return ReloadResponse(
        ok=result.ok,
        changed=result.changed,
        champion=result.champion,
        challenger=result.challenger,
        errors=result.errors,
    )
