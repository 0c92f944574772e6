"""A run worker for the run-health tests: a real ``daily_pipeline`` run on the test's real
Dagster instance whose one step holds the ``warehouse`` pool slot until the process is killed.

``python -m tests.runs.run_worker MLSYS_HOME`` (the test SIGKILLs it mid-step);
``python -m tests.runs.run_worker MLSYS_HOME next`` runs a ``next_writer`` whose one quick step
needs the slot, in a process that loaded mlsys's code location as a daemon's run worker does.
"""

from __future__ import annotations

import sys
import time

import dagster as dg

from mlsys_assets.instance import get_instance
from mlsys_assets.settings import Settings


@dg.op(pool="warehouse")
def write_to_the_warehouse() -> None:
    time.sleep(600)


@dg.job(name="daily_pipeline")
def daily_pipeline() -> None:
    write_to_the_warehouse()


@dg.op(pool="warehouse")
def quick_write() -> None:
    pass


@dg.job
def next_writer() -> None:
    quick_write()


if __name__ == "__main__":
    instance = get_instance(Settings(home=sys.argv[1]))
    if sys.argv[2:] == ["next"]:
        import mlsys_assets.definitions  # noqa: F401  what a run worker loads first

        assert next_writer.execute_in_process(instance=instance).success
    else:
        daily_pipeline.execute_in_process(instance=instance)
