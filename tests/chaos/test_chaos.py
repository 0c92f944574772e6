"""Kill each of mlsys's processes at a random (seeded) moment; after recovery nothing is lost.

The invariants (``Chaos.assert_invariants``): every landed flight in ``raw.flights`` exactly once,
reconciliation passing, no pool slot held, the API answering, and the online store equal to what
an uncrashed stream processor makes of the whole stream. The tests share one world and run in
order, each moving it one day on.
"""

from __future__ import annotations

import os
import signal

import dagster as dg
import pytest

from tests.chaos.conftest import Chaos, wait_until

pytestmark = [pytest.mark.chaos, pytest.mark.slow]
TARGETS = ["run worker", "dagster-daemon", "dagster-code-server", "api", "stream"]


def test_a_killed_run_worker_is_failed_retried_and_loses_no_row(chaos: Chaos) -> None:
    chaos.next_day()
    killed = chaos.kill_run_worker()
    # Forked from the code server's preloaded fork server, not a fresh interpreter per run.
    assert "multiprocessing.forkserver" in chaos.worker_parents[-1]
    chaos.recovered()
    assert chaos.instance.get_run_by_id(killed).status == dg.DagsterRunStatus.FAILURE
    retries = chaos.instance.get_runs(dg.RunsFilter(tags={"dagster/parent_run_id": killed}))
    assert [r.status for r in retries] == [dg.DagsterRunStatus.SUCCESS]
    chaos.assert_invariants()


def test_a_killed_daemon_and_api_restart_and_the_loop_resumes(chaos: Chaos) -> None:
    chaos.next_day()
    chaos.pause(0.0, 2.0)
    chaos.kill("dagster-daemon")
    chaos.kill("api")
    chaos.restart("api")
    chaos.restart("dagster-daemon")
    chaos.recovered()
    chaos.assert_invariants()


def test_a_killed_code_server_restarts_and_runs_resume(chaos: Chaos) -> None:
    chaos.next_day()
    chaos.pause(0.0, 2.0)
    chaos.kill("dagster-code-server")
    chaos.restart("dagster-code-server")
    chaos.recovered()
    chaos.assert_invariants()


def test_a_stream_processor_killed_mid_batch_loses_no_event(chaos: Chaos) -> None:
    stream = chaos.process("stream")
    os.kill(stream.popen.pid, signal.SIGSTOP)  # the day's events wait for it, all at once
    chaos.next_day()
    os.kill(stream.popen.pid, signal.SIGCONT)
    chaos.pause(0.0, 0.05)
    chaos.kill("stream")
    assert chaos.stream_behind(), "the processor had finished: no batch was cut short"
    chaos.restart("stream")
    chaos.recovered()
    chaos.assert_invariants()


@pytest.mark.skipif(
    not os.environ.get("MLSYS_CHAOS_KILLS"), reason="the long version: MLSYS_CHAOS_KILLS=N"
)
def test_random_kills(chaos: Chaos) -> None:
    """N more rounds, each killing a random process at a random moment of a new day."""
    for _ in range(int(os.environ["MLSYS_CHAOS_KILLS"])):
        target = chaos.rng.choice(TARGETS)
        chaos.next_day()
        if target == "run worker":
            chaos.kill_run_worker()
        else:
            chaos.pause(0.0, 2.0)
            chaos.kill(target)
            chaos.restart(target)
        chaos.recovered()
        chaos.assert_invariants()
    wait_until("nothing left running", lambda: not chaos.holders(), 30)
