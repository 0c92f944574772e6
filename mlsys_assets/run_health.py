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

**Which process is the worker** must not depend on the wall clock. A pid names another process
once the worker is gone and the pid is reused (``pid_max`` is 32768 on many hosts), so "the pid
exists" is not enough. The first check compared the process's start (``/proc/stat``'s boot
time plus its start ticks) with the run's start, both wall-clock times; but the kernel's boot
time moves with every step of the wall clock (NTP correcting a VM restored from a snapshot,
say), so after a forward step of a few seconds every live worker looked "started after its run"
and the reaper failed every run in progress, and their retries too. Now the reaper pins the
worker the first time it sees it: the tag ``mlsys/worker`` holds ``<run id>:<boot id>:<pid>:<start
ticks>``, and later checks compare the process with that, on the kernel's own clock, which no
wall-clock step moves. Only the first sighting, a second or so after the worker wrote the event
naming its pid, compares ages (the process's on the boot clock, the event's on the wall clock).

The pin names its run first: Dagster copies a run's tags to its retry, so a retry of a run
whose killed worker was pinned carried that pin, and the reaper, reading the dead pid from it,
failed the retry while its own worker was running (seen in the chaos test: the retry, and the
retry's retry, marked failed, then finished SUCCESS over it). A pin of another run counts as
none: the retry's worker is pinned at its first sighting.
"""

from __future__ import annotations

import functools
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from dagster._core.events import DagsterEventType, JobFailureData, RunFailureReason

HOST_TAG = "mlsys/host"
WORKER_TAG = "mlsys/worker"  # "<run id>:<boot id>:<pid>:<start ticks>": the run's worker
CRASH = RunFailureReason.UNEXPECTED_TERMINATION
# A worker writes the event naming its pid after it started; at its first sighting its age may
# fall short of the event's by clock granularity and scheduling, never by more than this.
_FIRST_SIGHT_SLACK_SECONDS = 2.0
WATCHED = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
# A free slot and an unassigned queued step, seen twice this far apart: nobody is handing it on.
_STRANDED_CONFIRM_SECONDS = 0.2


@dataclass(frozen=True)
class Reaped:
    """What the reaper did in one pass (for a sensor's skip reason or a command's output)."""

    failed_runs: list[str]
    freed_runs: list[str]
    woken_steps: list[str] = field(default_factory=list)  # "<run id> <step>" given a free slot

    def __bool__(self) -> bool:
        return bool(self.failed_runs or self.freed_runs or self.woken_steps)

    def describe(self) -> str:
        parts = []
        if self.failed_runs:
            parts.append(f"marked failed (worker gone): {', '.join(self.failed_runs)}")
        if self.freed_runs:
            parts.append(f"freed pool slots of finished runs: {', '.join(self.freed_runs)}")
        if self.woken_steps:
            parts.append(f"gave a free pool slot to waiting steps: {', '.join(self.woken_steps)}")
        return "; ".join(parts) or "every in-progress run has a live worker"


def this_host() -> str:
    return socket.gethostname()


def worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid of the process executing the run's steps (the last one its events name)."""
    named = _worker_event(instance, run_id)
    return named[0] if named is not None else None


def _worker_event(instance: dg.DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """The pid the run's events name last, and when that event was written (wall clock)."""
    found = None
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        event = entry.dagster_event
        data = event.engine_event_data if event is not None else None
        value = data.metadata.get("pid") if data is not None else None
        if value is not None:
            try:
                found = (int(str(value.value)), entry.timestamp)
            except ValueError:
                continue
    return found


def _pinned(run: dg.DagsterRun) -> tuple[str, int, str] | None:
    """``(boot id, pid, start ticks)`` from the run's ``mlsys/worker`` tag, if it pins this run's
    worker (a retry inherits its parent's tag: that pin is not its own)."""
    pinned = run.tags.get(WORKER_TAG, "").split(":")
    if len(pinned) == 4 and pinned[0] == run.run_id and pinned[2].isdigit():
        return pinned[1], int(pinned[2]), pinned[3]
    return None


@dataclass(frozen=True)
class ProcessStart:
    """A live process as the kernel knows it: which boot, and when in it the process started."""

    boot_id: str
    ticks: int  # clock ticks after boot (``/proc/<pid>/stat`` field 22)

    def fingerprint(self, pid: int) -> str:
        return f"{self.boot_id}:{pid}:{self.ticks}"

    def age(self) -> float:
        """Seconds since the process started, on the boot clock (no wall-clock step moves it)."""
        return _uptime() - self.ticks / os.sysconf("SC_CLK_TCK")


def process_start(pid: int) -> ProcessStart | None:
    """The live process ``pid``, or ``None`` if there is none (a zombie counts as none: a
    SIGKILLed child its parent has not waited for yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state is field 3
    if fields[0] in ("Z", "X"):
        return None
    return ProcessStart(_boot_id(), int(fields[19]))


def worker_alive(
    instance: dg.DagsterInstance, run: dg.DagsterRun, pid: int, named_at: float
) -> bool:
    """Whether the process running ``run`` lives: ``pid`` exists and is the process pinned in
    the run's ``mlsys/worker`` tag, or, at the first sighting, is old enough to have written the
    event that named it at ``named_at`` (then it is pinned). Module docstring: why not the
    wall clock."""
    if not Path("/proc/self/stat").exists():  # not Linux: existence is all we can tell
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    start = process_start(pid)
    if start is None:
        return False
    pinned = _pinned(run)
    if pinned is not None and pinned[1] == pid:
        return pinned[0] == start.boot_id and pinned[2] == str(start.ticks)
    if start.age() + _FIRST_SIGHT_SLACK_SECONDS < time.time() - named_at:
        return False  # started after its run's worker wrote that event: the pid was reused
    instance.add_run_tags(run.run_id, {WORKER_TAG: f"{run.run_id}:{start.fingerprint(pid)}"})
    return True


def _uptime() -> float:
    return float(Path("/proc/uptime").read_text().split()[0])


@functools.cache
def _boot_id() -> str:
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip()


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed every in-progress run of this host whose worker process is gone."""
    host = this_host()
    failed = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=WATCHED)):
        run = record.dagster_run
        if run.tags.get(HOST_TAG, host) != host or record.start_time is None:
            continue
        # Once pinned, the worker's pid is in the tag (and the event's time no longer used):
        # no need to read the run's events again.
        pinned = _pinned(run)
        named = (pinned[1], 0.0) if pinned else _worker_event(instance, run.run_id)
        if named is None or worker_alive(instance, run, *named):
            continue
        pid = named[0]
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


def wake_stranded_steps(
    instance: dg.DagsterInstance, confirm_after: float = _STRANDED_CONFIRM_SECONDS
) -> list[str]:
    """Give each free pool slot to the step queued first for it, when Dagster left it unassigned.

    Dagster assigns a pool's queued steps only when a slot is freed, and a step joins the queue
    unassigned when it saw no free slot a moment earlier. Both are separate transactions: a step
    that looked while the last holder was finishing, and queued just after that holder freed
    the slot and found nobody queued, waits for a wake-up that never comes. Seen in the demo: a
    ``canary`` run "blocked by limit for pool warehouse" with the pool's one slot free, for good,
    and the next run queued behind it. The state is checked twice ``confirm_after`` apart, so a
    slot being handed on right now (freed, its next step about to be assigned) is left to its
    owner; were both to assign, the slot rows still let one step at a time claim it.
    """
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    stranded = {pool: _stranded(storage, pool) for pool in storage.get_concurrency_keys()}
    stranded = {pool: steps for pool, steps in stranded.items() if steps}
    if not stranded:
        return []
    time.sleep(confirm_after)
    woken = []
    for pool, before in stranded.items():
        still = _stranded(storage, pool)
        for step in [s for s in still if s in before]:
            storage.assign_pending_steps([pool])  # the queue's head, as a freed slot would
            woken.append(step)
    return woken


def _stranded(storage: object, pool: str) -> list[str]:
    """The steps of ``pool`` that could be given a slot now: as many of the unassigned queued
    steps (oldest first) as the pool has slots no assigned step accounts for."""
    info = storage.get_concurrency_info(pool)  # type: ignore[attr-defined]
    waiting = sorted(
        (s for s in info.pending_steps if s.assigned_timestamp is None),
        key=lambda s: (-(s.priority or 0), s.enqueued_timestamp),
    )
    assigned = len(info.pending_steps) - len(waiting)
    free = info.slot_count - assigned
    return [f"{s.run_id} {s.step_key}" for s in waiting[: max(free, 0)]]


def reap(instance: dg.DagsterInstance) -> Reaped:
    """One pass: fail the runs whose worker is gone, free the slots of finished runs, then hand
    a free slot to a step Dagster forgot to wake."""
    failed = fail_dead_runs(instance)
    freed = free_slots_of_finished_runs(instance)
    return Reaped(failed, freed, wake_stranded_steps(instance))
