"""Wait for a free slot of a Dagster pool before an in-process run: bounded, interruptible, and
saying what it waits for.

Dagster's in-process executor waits for a pool slot in a loop that never sleeps (its interval to
the next claim check is ``min(0, ...)``) and, inside ``capture_interrupts``, never looks at the
SIGINT/SIGTERM it captured. A slot held by a dead run made ``mlsys ingest`` spin at 100% CPU for
good, silent and deaf to Ctrl-C. So mlsys waits *before* it starts the run, in its own loop:
each second it reaps runs whose worker is gone (``run_health.reap``), then starts as soon as the
pool has a free slot; meanwhile it says which run holds the slot, gives up after ``timeout``
seconds (``MLSYS_INGESTION__RUN_WAIT_TIMEOUT_SECONDS``) with ``PoolWaitTimeout``, and turns SIGTERM, like
SIGINT, into ``KeyboardInterrupt``.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator

import dagster as dg

from mlsys_assets.run_health import reap


class PoolWaitTimeout(RuntimeError):
    """The pool stayed full for the whole timeout (the message names the holders)."""


def holders(instance: dg.DagsterInstance, pool: str) -> tuple[int | None, list[str]]:
    """``(limit, ["run 1a2b3c4d (daily_pipeline, STARTED) step raw_flights", ...])``."""
    info = instance.event_log_storage.get_concurrency_info(pool)
    limit = info.limit if info.limit is not None else (info.slot_count or None)
    described = []
    for slot in info.claimed_slots:
        run = instance.get_run_by_id(slot.run_id)
        what = f"{run.job_name}, {run.status.value}" if run else "run not found"
        described.append(f"run {slot.run_id[:8]} ({what}) step {slot.step_key}")
    return limit, described


def wait_for_pool(
    instance: dg.DagsterInstance,
    pool: str,
    timeout: float,
    say: Callable[[str], None],
    every: float = 1.0,
) -> float:
    """Return once ``pool`` has a free slot (seconds waited); ``PoolWaitTimeout`` after ``timeout``."""
    start = time.monotonic()
    said = None
    with sigterm_as_keyboard_interrupt():
        while True:
            reaped = reap(instance)
            if reaped:
                say(f"cleaned up runs whose process is gone: {reaped.describe()}")
            limit, held = holders(instance, pool)
            if limit is None or len(held) < limit:
                return time.monotonic() - start
            waited = time.monotonic() - start
            message = f"waiting for pool {pool!r} ({limit} slot(s)), held by {'; '.join(held)}"
            if waited >= timeout:
                raise PoolWaitTimeout(
                    f"gave up after {waited:.0f} s {message[0].lower()}{message[1:]} "
                    "(MLSYS_INGESTION__RUN_WAIT_TIMEOUT_SECONDS; a run whose process is gone is failed "
                    "and its slot freed by `mlsys ui`'s daemon or the next command)"
                )
            if message != said:
                say(f"{message}; giving up in {timeout - waited:.0f} s (Ctrl-C stops)")
                said = message
            time.sleep(min(every, max(timeout - waited, 0.01)))


@contextlib.contextmanager
def sigterm_as_keyboard_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt here, as Ctrl-C does (main thread only; restored after)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous_term = signal.signal(signal.SIGTERM, _raise)
    previous_int = signal.getsignal(signal.SIGINT)
    if previous_int in (signal.SIG_IGN, None):  # e.g. started in the background by a shell
        signal.signal(signal.SIGINT, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)
