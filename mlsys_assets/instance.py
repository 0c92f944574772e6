"""The Dagster instance under ``MLSYS_HOME/dagster_home``: written once, used by every process.

``dagster dev`` without ``DAGSTER_HOME`` uses a temporary home that is deleted on exit, so mlsys
always points Dagster at a persistent one and writes its ``dagster.yaml``: the ``warehouse`` pool
is limited to one op at a time (DuckDB has one writer), runs queue instead of piling up on two
cores, a run whose worker crashed is re-executed from the failure (twice at most; a failing
step is not retried: that is a bug to read, not a crash to ride out), run monitoring fails runs stuck starting or canceling and frees the pool slots of ended
runs (a run whose worker died is caught by ``run_health``), and telemetry is off. With ``MLSYS_BACKENDS__DAGSTER_PG_URL`` the runs, event log and schedules go
to PostgreSQL (``dagster-postgres``), so several processes or machines share one instance.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from mlsys_assets.config_errors import ConfigurationError
from mlsys_assets.secrets import redact_url, write_private
from mlsys_assets.settings import Settings

DAGSTER_YAML = """\
# Written by mlsys (mlsys_assets/instance.py). Edit settings, not this file.
concurrency:
  pools:
    default_limit: 1        # pool "warehouse": DuckDB allows one writing process
  runs:
    max_concurrent_runs: 2  # two cores
run_coordinator:            # queued runs start within a second, not five
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    dequeue_interval_seconds: 1
    max_user_code_failure_retries: 24  # a code server restarting (tens of seconds on two
    user_code_failure_retry_delay: 5   # cores) re-queues a run for 2 minutes, never fails it
run_monitoring:             # the MONITORING daemon; dead run workers: mlsys_assets/run_health.py
  enabled: true
  poll_interval_seconds: 10 # default 120
  start_timeout_seconds: 45   # a launched run that never starts (the daemon died launching
                              # it) is failed and retried; a worker reports within seconds
  cancel_timeout_seconds: 60  # a run stuck CANCELING is failed
  max_resume_run_attempts: 0  # the DefaultRunLauncher can neither check a worker nor resume
  free_slots_after_run_end_seconds: 5  # else pool slots of a run that failed stay claimed
sensors:                    # each sensor ticks in its own thread: one reading the warehouse
  use_threads: true         # or the registry no longer delays the others' ticks (the loop
  num_workers: 4            # starts every MLSYS_LOOP__SENSOR_LOOP_SECONDS: mlsys_assets/daemon.py)
run_retries:                # the DAEMON re-executes a run whose worker crashed (not a failing step)
  enabled: true
  max_retries: 2
  retry_on_asset_or_op_failure: false
telemetry:
  enabled: false
"""


SQLITE_SCHEDULES = """\
schedule_storage:           # sensor ticks and cursors: Dagster's SQLite storage with one engine
  module: mlsys_assets.schedule_storage  # per process and its table checks remembered
  class: RememberingSqliteScheduleStorage
  config:
    base_dir: "{base_dir}"
"""

POSTGRES_STORAGE = """\
storage:                    # runs, event log, schedules (MLSYS_BACKENDS__DAGSTER_PG_URL)
  postgres:
    postgres_url: "{url}"
"""


def dagster_yaml(settings: Settings) -> str:
    """The instance config: SQLite storage under DAGSTER_HOME by default, else PostgreSQL."""
    if not settings.dagster_pg:
        return DAGSTER_YAML + SQLITE_SCHEDULES.format(base_dir=settings.dagster_home / "schedules")
    return DAGSTER_YAML + POSTGRES_STORAGE.format(url=dagster_postgres_url(settings.dagster_pg))


def dagster_postgres_url(url: str) -> str:
    """Any PostgreSQL URL -> ``postgresql+psycopg2://...``, the driver dagster-postgres needs.

    SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3, whose server-side parameters
    break dagster-postgres's ``NOTIFY run_events, %(id)s``; psycopg2 comes with dagster-postgres.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme.startswith(("postgresql", "postgres")):
        raise ConfigurationError(
            f"MLSYS_BACKENDS__DAGSTER_PG_URL must be a postgresql:// URL, got {redact_url(url)}"
        )
    return f"postgresql+psycopg2://{rest}"


def prepare_dagster_home(settings: Settings) -> Path:
    """Create DAGSTER_HOME with mlsys's dagster.yaml and export it for this process.

    The file may hold the PostgreSQL password, so it is always written owner-only (0600), and a
    copy left world-readable by an earlier version is rewritten.
    """
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    text = dagster_yaml(settings)
    if not config.exists() or config.stat().st_mode & 0o077 or config.read_text() != text:
        write_private(config, text)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def get_instance(settings: Settings) -> dg.DagsterInstance:
    """The persistent Dagster instance of this MLSYS_HOME."""
    prepare_dagster_home(settings)
    return dg.DagsterInstance.get()
