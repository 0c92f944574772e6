"""Metrics of several uvicorn workers as one: prometheus_client's multiprocess mode.

With ``mlsys serve --workers N`` each request lands on one worker, so per-process counters made
``/metrics`` show whichever worker answered the scrape. Two ways out: label every series by
worker and let Prometheus sum, or let each worker write its values to a shared directory and
have whichever worker answers the scrape merge them. mlsys takes the second (prometheus_client's
multiprocess mode): a scrape is one consistent, already-summed answer, ``/metrics`` keeps the
same series names as with one worker (a dashboard or alert needs no ``sum by``), and no value
depends on which worker Prometheus reached. Counters and histograms are summed; the
model-version gauge is kept per live worker (label ``pid``: a disagreement between workers is
visible); the freshness gauge takes the most recent value written.

The directory is per start of ``mlsys serve`` (``MLSYS_HOME/serving/prometheus/<supervisor
pid>``), made empty at start: a restarted server does not add the previous run's counts, and
two servers on one MLSYS_HOME do not mix. Directories of servers that are gone are removed.
The mode must be chosen before prometheus_client creates its first value, so the supervisor
sets ``PROMETHEUS_MULTIPROC_DIR`` before uvicorn spawns the workers, which inherit it. One
worker needs none of this and keeps the cheaper in-process values.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"
_LIVE_GAUGE = re.compile(r"^gauge_live\w+?_(?P<pid>\d+)\.db$")


def metrics_directory(home: Path) -> Path:
    """An empty directory for this start's metric files (the previous starts' are removed)."""
    root = home / "serving" / "prometheus"
    root.mkdir(parents=True, exist_ok=True)
    for old in root.iterdir():
        if old.is_dir() and (not old.name.isdigit() or not _alive(int(old.name))):
            shutil.rmtree(old, ignore_errors=True)
    mine = root / str(os.getpid())
    shutil.rmtree(mine, ignore_errors=True)
    mine.mkdir()
    return mine


def enable(home: Path) -> Path:
    """Turn multiprocess mode on for the workers about to be spawned (an operator's own
    ``PROMETHEUS_MULTIPROC_DIR`` wins)."""
    if ENV not in os.environ:
        os.environ[ENV] = str(metrics_directory(home))
    return Path(os.environ[ENV])


def enabled() -> bool:
    return ENV in os.environ


def forget_dead_workers() -> None:
    """Drop the per-worker gauges of workers that died (uvicorn restarts a dead worker)."""
    from prometheus_client import multiprocess

    directory = Path(os.environ[ENV])
    for path in directory.glob("gauge_live*.db"):
        match = _LIVE_GAUGE.match(path.name)
        if match and not _alive(int(match["pid"])):
            with contextlib.suppress(OSError):
                multiprocess.mark_process_dead(int(match["pid"]), str(directory))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
