"""Materialize the ingestion layer for a range of days as ONE Dagster run on the real instance."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

import dagster as dg

from mlsys_assets.settings import Settings

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
logger = logging.getLogger(__name__)


def instance_for(settings: Settings) -> dg.DagsterInstance:
    """The persistent instance under ``settings.dagster_home`` (what ``dagster dev`` shows)."""
    from mlsys_assets.instance import get_instance

    return get_instance(settings)  # writes dagster.yaml: pools, and PostgreSQL when configured


def ingest_range(
    settings: Settings,
    start: dt.date,
    end: dt.date,
    *,
    instance: dg.DagsterInstance | None = None,
    raise_on_error: bool = False,
    log_level: str = "INFO",
    say: Callable[[str], None] = logger.warning,
) -> dg.ExecuteInProcessResult:
    """Every ingestion asset and check for days ``start..end``, in a single run.

    The daily assets receive the whole partition range (single-run backfill policy); the
    reference snapshots run once. Failed checks do not fail the run: they are the report.
    The run starts once the ``warehouse`` pool has a free slot: ``say`` hears what holds it,
    and ``PoolWaitTimeout`` ends the wait after ``MLSYS_INGESTION__RUN_WAIT_TIMEOUT_SECONDS``.
    """
    from mlsys_assets.ingestion.assets import ASSETS, CHECKS, POOL
    from mlsys_assets.interrupts import interrupts_kept
    from mlsys_assets.pool_wait import wait_for_pool
    from mlsys_assets.resources import build_resources
    from mlsys_assets.run_health import HOST_TAG, this_host

    if end < start:
        raise ValueError(f"--to {end} is before --from {start}")
    instance = instance or instance_for(settings)
    wait_for_pool(instance, POOL, settings.ingestion.run_wait_timeout_seconds, say)
    with interrupts_kept():  # Dagster forgets a Ctrl-C that lands between its checks
        return dg.materialize(
            [*ASSETS, *CHECKS],
            instance=instance,
            resources=build_resources(settings),
            tags={
                RANGE_START_TAG: start.isoformat(),
                RANGE_END_TAG: end.isoformat(),
                HOST_TAG: this_host(),  # where run_health may judge whether its process lives
            },
            raise_on_error=raise_on_error,
            # The event log keeps every event; the console gets the INFO summary lines only
            # (a year is ~1,500 DEBUG events).
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        )


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    """``{"raw_flights:freshness": False, ...}`` for every check evaluated in the run."""
    return {
        f"{e.asset_key.to_user_string()}:{e.check_name}": e.passed
        for e in result.get_asset_check_evaluations()
    }
