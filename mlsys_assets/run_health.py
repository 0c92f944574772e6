"""Runs whose process is gone: found, marked failed, and their pool slots freed.

Dagster's run monitoring cannot do this for mlsys. The monitoring daemon asks the run launcher
whether a run worker is healthy, and the ``DefaultRunLauncher`` (the one ``mlsys ui``,
``mlsys demo`` and ``dagster dev`` use) answers ``supports_check_run_worker_health = False``
(nor can it resume a run, hence ``max_resume_run_attempts: 0``); for a STARTED run the daemon
then checks nothing but ``max_runtime_seconds``. The code server does notice a dead run worker
of its own, but only while that code server lives, and an in-process run (``mlsys ingest``) has
no launcher at all. A run worker killed with SIGKILL mid-step (kill -9, the OOM killer) thus
stayed STARTED for good, holding the single ``warehouse`` pool slot: every later writer waited
forever, and the retrain sensors saw the dead run as "still running".

So mlsys checks for itself (the ``dead_run_reaper`` sensor in the daemon, and every command
before it waits for a slot): a STARTED or CANCELING run whose worker process (its pid is in the
run's engine events) no longer exists on this host is marked failed with the reason, and every
pool slot held by a run that is no longer in progress is freed. A run started on another host
(tag ``mlsys/host``, set by mlsys's in-process runs) is left to that host.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from dagster._core.events import DagsterEventType, JobFailureData, RunFailureReason

HOST_TAG = "mlsys/host"
CRASH = RunFailureReason.UNEXPECTED_TERMINATION
# The worker's pid is recorded after the run is marked STARTED: a process that started later
# than this after the run is another process that reuses the pid.
_START_SLACK_SECONDS = 2.0
WATCHED = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


@dataclass(frozen=True)
class Reaped:
    """What the reaper did in one pass (for a sensor's skip reason or a command's output)."""

    failed_runs: list[str]
    freed_runs: list[str]

    def __bool__(self) -> bool:
        return bool(self.failed_runs or self.freed_runs)

    def describe(self) -> str:
        parts = []
        if self.failed_runs:
            parts.append(f"marked failed (worker gone): {', '.join(self.failed_runs)}")
        if self.freed_runs:
            parts.append(f"freed pool slots of finished runs: {', '.join(self.freed_runs)}")
        return "; ".join(parts) or "every in-progress run has a live worker"


def this_host() -> str:
    return socket.gethostname()


def worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid of the process executing the run's steps (the last one its events name)."""
    pid = None
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        event = entry.dagster_event
        data = event.engine_event_data if event is not None else None
        value = data.metadata.get("pid") if data is not None else None
        if value is not None:
            try:
                pid = int(str(value.value))
            except ValueError:
                continue
    return pid


def process_gone(pid: int, started_before: float) -> bool:
    """True if no live process ``pid`` started before ``started_before`` (a Unix timestamp).

    A zombie counts as gone (a SIGKILLed child its parent has not waited for yet), and so does a
    process that reuses the pid but started after the run did.
    """
    stat_path = Path(f"/proc/{pid}/stat")
    if not Path("/proc/self/stat").exists():  # not Linux: existence is all we can tell
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    try:
        stat = stat_path.read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state is field 3
    if fields[0] in ("Z", "X"):
        return True
    started = _boot_time() + int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime
    return started > started_before + _START_SLACK_SECONDS


def _boot_time() -> float:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    return 0.0


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed every in-progress run of this host whose worker process is gone."""
    host = this_host()
    failed = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=WATCHED)):
        run = record.dagster_run
        if run.tags.get(HOST_TAG, host) != host or record.start_time is None:
            continue
        pid = worker_pid(instance, run.run_id)
        if pid is None or not process_gone(pid, record.start_time):
            continue
        message = (
            f"The run worker (pid {pid}) of run {run.run_id} is gone (killed or crashed) while "
            "the run was in progress: mlsys marks the run failed and frees its pool slots."
        )
        instance.report_engine_event(message, run)
        # A crash, not a failing step: the daemon's run retries re-execute it (dagster.yaml).
        instance.report_run_failed(run, message, JobFailureData(None, CRASH, None))
        failed.append(run.run_id)
    return failed


def free_slots_of_finished_runs(instance: dg.DagsterInstance) -> list[str]:
    """Free the pool slots (claimed or pending) of every run that is no longer in progress."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    freed = []
    for run_id in sorted(storage.get_concurrency_run_ids()):
        run = instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            storage.free_concurrency_slots_for_run(run_id)
            freed.append(run_id)
    return freed


def reap(instance: dg.DagsterInstance) -> Reaped:
    """One pass: fail the runs whose worker is gone, then free the slots of finished runs."""
    failed = fail_dead_runs(instance)
    return Reaped(failed, free_slots_of_finished_runs(instance))
