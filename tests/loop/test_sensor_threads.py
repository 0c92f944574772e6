"""Sensors evaluated at once in the code server's threads all get MLflow.

The code server runs sensors in threads. Two threads importing into MLflow at once deadlock in its
circular imports; Python breaks the deadlock with ``_DeadlockError`` in one thread and MLflow's
protobuf descriptors stay half registered, so that code server's MLflow calls fail from then on
(a demo never got its first champion). The sensors' MLflow and scikit-learn calls start here in
eight threads of a fresh interpreter, released together, as a new code server's first ticks do.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlsys_assets.processes import child_environment

pytestmark = pytest.mark.process

FIRST_TICKS = """
import json, sys, threading
from mlsys_assets.lazy_imports import load
from mlsys_assets.registry import aliases
from mlsys_assets.registry.store import version_by_alias
from mlsys_assets.resources.tracking import Tracking
from mlsys_assets.settings import Settings

tracking = Tracking.from_settings(Settings(home=sys.argv[1]))
calls = [
    tracking.client,
    lambda: aliases.history(tracking),
    lambda: version_by_alias(tracking, "champion"),
    lambda: load("sklearn.metrics"),  # canary_evaluation's AUC (with MLflow: the demo's deadlock)
] * 2
start, errors = threading.Barrier(len(calls)), []

def tick(call):
    start.wait()
    try:
        call()
    except BaseException as exc:
        errors.append(repr(exc))

threads = [threading.Thread(target=tick, args=(call,)) for call in calls]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps({"imported": "mlflow" in sys.modules, "errors": errors}))
"""


def test_sensors_starting_together_each_get_mlflow(tmp_path: Path) -> None:
    for attempt in range(2):  # the unguarded imports fail on every attempt; two to be sure
        done = subprocess.run(
            [sys.executable, "-c", FIRST_TICKS, str(tmp_path / f"mlsys-{attempt}")],
            capture_output=True,
            text=True,
            timeout=180,
            env=child_environment(),
        )
        assert done.returncode == 0, done.stderr[-3000:]
        result = json.loads(done.stdout.strip().splitlines()[-1])
        assert result == {"imported": True, "errors": []}
