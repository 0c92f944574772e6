"""A run worker for the dead-worker tests: a real ``daily_pipeline`` run on the test's real
Dagster instance whose one step holds the ``warehouse`` pool slot until the process is killed.

``python -m tests.runs.run_worker MLSYS_HOME`` (the test SIGKILLs it mid-step).
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


if __name__ == "__main__":
    daily_pipeline.execute_in_process(instance=get_instance(Settings(home=sys.argv[1])))
