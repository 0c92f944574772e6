"""Waiting on the system the demo drives: Dagster runs launched by the daemon, the registry, HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import TypeVar

import dagster as dg
import httpx
from dagster._core.scheduler.instigation import InstigatorStatus, InstigatorType, TickStatus
from dagster._core.storage.tags import WILL_RETRY_TAG

from mlsys_assets.ingestion.run import RANGE_END_TAG
from mlsys_assets.loop.signals import ACTIVE
from mlsys_assets.processes import ProcessGroup

T = TypeVar("T")


class DemoTimeout(RuntimeError):
    """Something the demo waits for did not happen in time (the logs say why)."""


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    timeout: float,
    group: ProcessGroup,
    every: float = 1.0,
    pause: Callable[[float], object] = time.sleep,
) -> T:
    """Poll ``probe`` until it returns something, failing early if a server died; between
    looks, ``pause(every)`` (a sleep, or a wait that something wakes earlier)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        group.check_alive()
        value = probe()
        if value is not None:
            return value
        pause(every)
    raise DemoTimeout(f"timed out after {timeout:.0f} s waiting for {what}; see {group.log_dir}")


RETRY_GRACE_SECONDS = 30.0  # how long a failed run may wait for the daemon's retry decision


def pipeline_done(instance: dg.DagsterInstance, last_day: str) -> Callable[[], bool | None]:
    """A probe: has the daily pipeline run that ends at ``last_day`` finished?

    A failed run the daemon will re-execute (a crashed worker, or one that did not start in
    time on a loaded machine) is not the end: its retry carries the same partition tags. The
    daemon tags the failure with its decision a moment after it; until then, or until
    ``RETRY_GRACE_SECONDS`` passed, the probe keeps waiting.
    """
    first_seen: dict[str, float] = {}

    def final(run: dg.DagsterRun) -> bool:
        decision = run.tags.get(WILL_RETRY_TAG)
        if decision is not None:
            return decision != "true"
        seen = first_seen.setdefault(run.run_id, time.monotonic())
        return time.monotonic() - seen > RETRY_GRACE_SECONDS

    def probe() -> bool | None:
        found = instance.get_runs(
            dg.RunsFilter(job_name="daily_pipeline", tags={RANGE_END_TAG: last_day})
        )
        if any(r.status == dg.DagsterRunStatus.SUCCESS for r in found):
            return True
        failed = [r for r in found if r.status == dg.DagsterRunStatus.FAILURE and final(r)]
        if failed and len(failed) == len(found):
            raise RuntimeError(f"daily pipeline run {failed[0].run_id} for {last_day} failed")
        return None

    return probe


def runs_settled(instance: dg.DagsterInstance) -> Callable[[], bool | None]:
    def probe() -> bool | None:
        return True if not instance.get_runs(dg.RunsFilter(statuses=ACTIVE), limit=1) else None

    return probe


DONE_TICKS = [TickStatus.SKIPPED, TickStatus.SUCCESS, TickStatus.FAILURE]


def sensors_ticked(
    instance: dg.DagsterInstance, since: float, names: Collection[str]
) -> Callable[[], bool | None]:
    """A probe: has every running sensor of ``names`` finished a tick that started after
    ``since``?

    A tick that started after the runs settled saw their results, and any run it requested is
    already in the run storage; waiting for one round of ticks beats sleeping for a fixed time.
    Only the sensors that launch runs matter here: the alert sensors tick every 5 s and would
    make every round wait for them.
    """

    def probe() -> bool | None:
        for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
            if state.status == InstigatorStatus.STOPPED or state.instigator_name not in names:
                continue
            ticks = instance.get_ticks(
                state.instigator_origin_id,
                state.selector_id,
                after=since,
                limit=1,
                statuses=DONE_TICKS,
            )
            if not ticks:
                return None
        return True

    return probe


def api_ready(client: httpx.Client) -> Callable[[], bool | None]:
    def probe() -> bool | None:
        try:
            return True if client.get("/ready").status_code == 200 else None
        except httpx.HTTPError:
            return None

    return probe
