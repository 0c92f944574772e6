"""Fixtures of the run-health tests: a real Dagster instance and a run worker that holds the
``warehouse`` pool slot in its own process, ready to be killed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from mlsys_assets.instance import get_instance
from mlsys_assets.processes import child_environment
from mlsys_assets.settings import Settings

REPO = Path(__file__).resolve().parents[2]
POOL = "warehouse"


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    run_id: str


@pytest.fixture
def instance(settings: Settings) -> Iterator[dg.DagsterInstance]:
    """The real persistent instance of the test's MLSYS_HOME (mlsys's dagster.yaml)."""
    with get_instance(settings) as instance:
        yield instance


def holders(instance: dg.DagsterInstance) -> list[str]:
    return [
        slot.run_id for slot in instance.event_log_storage.get_concurrency_info(POOL).claimed_slots
    ]


def start_run_worker(settings: Settings, *args: str) -> subprocess.Popen[bytes]:
    """``python -m tests.runs.run_worker MLSYS_HOME [args]`` with this repository importable."""
    env = child_environment() | {
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.runs.run_worker", str(settings.home_dir), *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.fixture
def worker(settings: Settings, instance: dg.DagsterInstance) -> Iterator[Worker]:
    """A ``daily_pipeline`` run in its own process, its step running and holding the slot."""
    process = start_run_worker(settings)
    try:
        deadline = time.monotonic() + 90
        while not holders(instance):
            if process.poll() is not None:
                pytest.fail(f"the run worker exited: {process.stderr.read().decode()[-3000:]}")  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the run worker never claimed the slot"
            time.sleep(0.2)
        yield Worker(process, holders(instance)[0])
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
