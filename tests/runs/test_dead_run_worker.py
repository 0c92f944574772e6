"""A run worker killed with SIGKILL mid-step: the run is failed, its pool slot freed, and the
next writer runs, without a person; a command that waits for the slot says what it waits for,
gives up in time and stops on SIGTERM.

Everything is real: the instance is MLSYS_HOME's persistent one with mlsys's dagster.yaml, the
run is a ``daily_pipeline`` run in its own process holding the ``warehouse`` slot, the kill is
``SIGKILL``, and the daemon's ``dead_run_reaper`` sensor is evaluated on that instance.
"""

from __future__ import annotations

import datetime as dt
import os
import queue
import signal
import subprocess
import threading
import time

import dagster as dg
import pytest

from mlsys_assets import run_health
from mlsys_assets.loop.reaper import dead_run_reaper
from mlsys_assets.loop.signals import retrain_blocked
from mlsys_assets.pool_wait import PoolWaitTimeout, wait_for_pool
from mlsys_assets.processes import child_environment, executable
from mlsys_assets.settings import Settings
from tests.runs.conftest import POOL, REPO, Worker, holders
from tests.runs.run_worker import next_writer

DAY = dt.date(2013, 6, 1)


def kill(worker: Worker) -> None:
    worker.process.send_signal(signal.SIGKILL)
    worker.process.wait(timeout=10)


def test_the_daemon_fails_a_run_whose_worker_was_killed_and_frees_its_slot(
    instance: dg.DagsterInstance, worker: Worker
) -> None:
    # A live worker is left alone.
    assert "live worker" in dead_run_reaper(dg.build_sensor_context(instance=instance)).skip_message
    assert instance.get_run_by_id(worker.run_id).status == dg.DagsterRunStatus.STARTED

    kill(worker)
    # What Dagster alone leaves behind: a run that looks in progress, holding the slot.
    assert instance.get_run_by_id(worker.run_id).status == dg.DagsterRunStatus.STARTED
    assert holders(instance) == [worker.run_id]
    assert "daily_pipeline run" in retrain_blocked(instance, None, DAY, cooldown_days=7)

    reason = dead_run_reaper(dg.build_sensor_context(instance=instance)).skip_message
    assert worker.run_id in reason and "worker gone" in reason

    run = instance.get_run_by_id(worker.run_id)
    assert run.status == dg.DagsterRunStatus.FAILURE
    # A crash, not a failing step: what the daemon's run retries re-execute (dagster.yaml).
    assert run.tags["dagster/failure_reason"] == "UNEXPECTED_TERMINATION"
    assert holders(instance) == []
    assert retrain_blocked(instance, None, DAY, cooldown_days=7) is None
    failure = instance.all_logs(worker.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    assert f"pid {worker.process.pid}" in failure[-1].dagster_event.message
    # A later writer gets the slot and completes.
    assert next_writer.execute_in_process(instance=instance).success


class SteppedClock:
    """The wall clock after NTP stepped it forward (a VM restored from a snapshot catching up)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def time(self) -> float:
        return time.time() + self.seconds


def test_a_live_worker_stays_running_when_the_wall_clock_steps_forward(
    instance: dg.DagsterInstance, worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "live worker" in dead_run_reaper(dg.build_sensor_context(instance=instance)).skip_message
    pinned = instance.get_run_by_id(worker.run_id).tags[run_health.WORKER_TAG]
    assert pinned.split(":")[:3:2] == [worker.run_id, str(worker.process.pid)]

    monkeypatch.setattr(run_health, "time", SteppedClock(600.0))
    assert "live worker" in dead_run_reaper(dg.build_sensor_context(instance=instance)).skip_message
    assert instance.get_run_by_id(worker.run_id).status == dg.DagsterRunStatus.STARTED
    assert holders(instance) == [worker.run_id]


def test_a_pid_now_naming_another_process_counts_as_a_dead_worker(
    instance: dg.DagsterInstance, worker: Worker
) -> None:
    dead_run_reaper(dg.build_sensor_context(instance=instance))  # pins the live worker
    tags = instance.get_run_by_id(worker.run_id).tags
    run_id, boot, pid, ticks = tags[run_health.WORKER_TAG].split(":")
    # What the tag would say had the worker died and another process taken its pid since.
    pin = f"{run_id}:{boot}:{pid}:{int(ticks) - 1}"
    instance.add_run_tags(worker.run_id, {run_health.WORKER_TAG: pin})

    reason = dead_run_reaper(dg.build_sensor_context(instance=instance)).skip_message
    assert worker.run_id in reason and "worker gone" in reason
    assert instance.get_run_by_id(worker.run_id).status == dg.DagsterRunStatus.FAILURE


def test_a_retry_that_inherited_its_parents_pin_keeps_its_live_worker(
    instance: dg.DagsterInstance, worker: Worker
) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    parent = "00000000-0000-0000-0000-000000000000"
    # Dagster copies a run's tags to its retry: the pin of the parent's killed worker.
    pin = f"{parent}:{run_health._boot_id()}:{dead.pid}:1"
    instance.add_run_tags(worker.run_id, {run_health.WORKER_TAG: pin})

    assert "live worker" in dead_run_reaper(dg.build_sensor_context(instance=instance)).skip_message
    run = instance.get_run_by_id(worker.run_id)
    assert run.status == dg.DagsterRunStatus.STARTED
    assert run.tags[run_health.WORKER_TAG].split(":")[:3:2] == [
        worker.run_id,
        str(worker.process.pid),
    ]  # fmt: skip  (pinned anew: its own worker)


def test_a_waiting_command_names_the_holder_times_out_and_proceeds_once_the_worker_is_dead(
    instance: dg.DagsterInstance, worker: Worker
) -> None:
    heard: list[str] = []
    with pytest.raises(PoolWaitTimeout, match=worker.run_id[:8]):
        wait_for_pool(instance, POOL, timeout=1.0, say=heard.append, every=0.2)
    assert heard and "daily_pipeline" in heard[0] and worker.run_id[:8] in heard[0]

    kill(worker)
    started = time.monotonic()
    wait_for_pool(instance, POOL, timeout=30.0, say=heard.append, every=0.2)
    assert time.monotonic() - started < 5
    assert any(worker.run_id in line for line in heard)  # it said what it cleaned up
    assert instance.get_run_by_id(worker.run_id).status == dg.DagsterRunStatus.FAILURE
    assert next_writer.execute_in_process(instance=instance).success


def test_mlsys_ingest_waiting_for_a_busy_slot_stops_on_sigterm(
    settings: Settings, worker: Worker
) -> None:
    env = child_environment() | {
        "MLSYS_HOME": str(settings.home_dir),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    ingest = subprocess.Popen(
        [executable("mlsys"), "ingest", "--from", "2013-01-01", "--to", "2013-01-01"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(raw.decode()) for raw in ingest.stderr],
        daemon=True,  # type: ignore[union-attr]
    ).start()
    try:
        said = ""
        deadline = time.monotonic() + 60
        while "waiting for pool 'warehouse'" not in said:
            assert time.monotonic() < deadline, f"`mlsys ingest` said nothing of the wait: {said}"
            try:
                said += lines.get(timeout=1)
            except queue.Empty:
                assert ingest.poll() is None, said
        assert worker.run_id[:8] in said and "daily_pipeline" in said, said
        stopped = time.monotonic()
        ingest.send_signal(signal.SIGTERM)
        assert ingest.wait(timeout=10) == 130
        assert time.monotonic() - stopped < 5
    finally:
        if ingest.poll() is None:
            ingest.kill()
            ingest.wait()
