"""The Dagster instance under ``MLSYS_HOME/dagster_home``: written once, used by every process.

``dagster dev`` without ``DAGSTER_HOME`` uses a temporary home that is deleted on exit, so mlsys
always points Dagster at a persistent one and writes its ``dagster.yaml``: the ``warehouse`` pool
is limited to one op at a time (DuckDB has one writer), runs queue instead of piling up on two
cores, and telemetry is off.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from mlsys_assets.settings import Settings

DAGSTER_YAML = """\
# Written by mlsys (mlsys_assets/instance.py). Edit settings, not this file.
concurrency:
  pools:
    default_limit: 1        # pool "warehouse": DuckDB allows one writing process
  runs:
    max_concurrent_runs: 2  # two cores
run_monitoring:
  enabled: true
telemetry:
  enabled: false
"""


def prepare_dagster_home(settings: Settings) -> Path:
    """Create DAGSTER_HOME with mlsys's dagster.yaml and export it for this process."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() or config.read_text() != DAGSTER_YAML:
        config.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def get_instance(settings: Settings) -> dg.DagsterInstance:
    """The persistent Dagster instance of this MLSYS_HOME."""
    prepare_dagster_home(settings)
    return dg.DagsterInstance.get()
