"""Heavy libraries imported on first use, by one thread at a time.

MLflow, XGBoost, scikit-learn and Evidently take seconds to import, so the modules that sensors,
the code location and the CLI load import them inside the functions that need them. The Dagster
code server, though, evaluates sensors in threads, and two threads importing into MLflow at once
deadlock in its circular imports: Python raises ``_DeadlockError`` in one of them and MLflow's
protobuf descriptors stay half registered, so every later MLflow call in that code server fails
("Depends on file 'databricks.proto', but it has not been loaded") and the loop never gets a
champion until the code server restarts. Seen in a demo; ``tests/loop/test_sensor_threads.py``
starts the same threads on the real call sites.

Every deferred import of such a library in ``mlsys_assets`` goes through :func:`load`. Only the
import is serialized: once a module is loaded, ``load`` returns it at the cost of a lock.
"""

from __future__ import annotations

import importlib
import threading
from types import ModuleType

_ONE_AT_A_TIME = threading.RLock()  # re-entrant: an import may run code that calls load()


def load(name: str) -> ModuleType:
    """The module ``name`` (e.g. ``"mlflow.exceptions"``), imported under the process's lock."""
    with _ONE_AT_A_TIME:
        return importlib.import_module(name)
