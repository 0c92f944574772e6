"""A run whose step waits for the ``warehouse`` slot sleeps while it waits and starts soon after
the slot is free.

Dagster's executor left alone loops without sleeping while a step waits (about 75% of a core
of two, taken from the run holding the slot); ``mlsys_assets/pool_claims.py`` says why.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import dagster as dg
from dagster._core.execution.plan import instance_concurrency_context as claims

from mlsys_assets import pool_claims
from mlsys_assets.loop.reaper import dead_run_reaper
from mlsys_assets.settings import Settings
from tests.runs.conftest import POOL, Worker, start_run_worker


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pending_runs(instance: dg.DagsterInstance) -> list[str]:
    return [s.run_id for s in instance.event_log_storage.get_concurrency_info(POOL).pending_steps]


def test_a_step_waiting_for_the_slot_sleeps_and_runs_once_it_is_free(
    settings: Settings, instance: dg.DagsterInstance, worker: Worker
) -> None:
    waiter = start_run_worker(settings, "next")
    try:
        deadline = time.monotonic() + 90
        while len(pending_runs(instance)) < 2:  # the holder's step and the waiter's
            assert waiter.poll() is None, waiter.stderr.read().decode()[-3000:]  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the waiter never asked for the slot"
            time.sleep(0.2)
        time.sleep(1.0)
        before, started = cpu_seconds(waiter.pid), time.monotonic()
        time.sleep(3.0)
        share = (cpu_seconds(waiter.pid) - before) / (time.monotonic() - started)
        assert share < 0.15, f"the waiting run worker used {share:.0%} of a core"

        worker.process.send_signal(signal.SIGKILL)
        worker.process.wait(timeout=10)
        freed = time.monotonic()
        dead_run_reaper(dg.build_sensor_context(instance=instance))  # the daemon's next tick
        assert waiter.wait(timeout=30) == 0, waiter.stderr.read().decode()[-3000:]  # type: ignore[union-attr]
        assert time.monotonic() - freed < 10
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()


def test_the_code_location_installs_the_wait_and_caps_the_check_interval() -> None:
    import mlsys_assets.definitions  # noqa: F401

    context = claims.InstanceConcurrencyContext
    assert context.interval_to_next_pending_claim_check is (
        pool_claims._interval_to_next_pending_claim_check
    )
    # The back-off of a step that has waited long: every 2 s, not every 15 s.
    assert claims._calculate_timeout_interval(None, 100) == 2.0
