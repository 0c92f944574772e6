"""`mlsys ui` on PostgreSQL with passwords in every URL: nothing it starts shows one.

PostgreSQL (``make services``) trusts loopback connections, so a password in the URL is
carried everywhere and checked nowhere: the test can put a recognisable one in the Dagster,
source and MLflow URLs, start the real servers on them, and look for it in the places a person
or another user would see it: the servers' logs and output, Dagster's UI (resource config over
its GraphQL API), every command line ``ps`` lists, and the mode of ``dagster.yaml``.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from mlsys_assets.processes import child_environment, free_ports, wait_for_port
from tests.e2e.test_demo_stops import processes_of_home

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SECRET = "PGs3cr3t9q"
RESOURCES = """{ workspaceOrError { ... on Workspace { locationEntries { locationOrLoadError {
  ... on RepositoryLocation { repositories { allTopLevelResourceDetails {
    name configuredValues { key value type } } } } } } } } }"""


def _with_password(url: str) -> str:
    return url.replace("postgres@", f"postgres:{SECRET}@", 1)


def test_mlsys_ui_on_postgres_shows_no_password(pg_database, tmp_path) -> None:
    home = tmp_path / "mlsys"
    env = child_environment() | {
        "MLSYS_HOME": str(home),
        "MLSYS_BACKENDS__DAGSTER_PG_URL": _with_password(pg_database("dagster")),
        "MLSYS_BACKENDS__SOURCE_DB_URL": _with_password(pg_database("source")),
        "MLSYS_BACKENDS__MLFLOW_TRACKING_URI": _with_password(pg_database("mlflow")),
        "MLSYS_BACKENDS__ADMIN_TOKEN": f"TOKEN{SECRET}",
    }
    dagster_port, mlflow_port = free_ports(2)
    output = tmp_path / "ui.out"
    with output.open("wb") as out:
        ui = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlsys_assets.cli",
                "ui",
                "--dagster-port",
                str(dagster_port),
                "--mlflow-port",
                str(mlflow_port),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        for port in (dagster_port, mlflow_port):
            wait_for_port("127.0.0.1", port, timeout=240)
        assert httpx.get(f"http://127.0.0.1:{mlflow_port}/health", timeout=10).status_code == 200
        shown = _resources_shown(dagster_port)
        assert "source_database" in shown and "ENV_VAR" in shown  # the URL, by name only
        assert SECRET not in shown
        command_lines = " ".join(processes_of_home(home).values())
        assert "mlflow" in command_lines and "mlsys daemon" in command_lines
        assert SECRET not in command_lines
        config = home / "dagster_home" / "dagster.yaml"
        assert SECRET in config.read_text()  # Dagster connects with it ...
        assert stat.S_IMODE(config.stat().st_mode) == 0o600  # ... and only its owner reads it
    finally:
        os.kill(ui.pid, signal.SIGTERM)
        ui.wait(timeout=60)
    time.sleep(0.5)
    assert processes_of_home(home) == {}
    for log in [output, *Path(home / "logs").glob("*.log")]:
        assert SECRET not in log.read_text(errors="replace"), log.name


def _resources_shown(port: int) -> str:
    """What Dagster's UI shows of the resources' config, once the code location is loaded."""
    deadline = time.monotonic() + 120
    while True:
        answer = httpx.post(
            f"http://127.0.0.1:{port}/graphql", json={"query": RESOURCES}, timeout=30
        ).text
        if "source_database" in answer or time.monotonic() > deadline:
            return answer
        time.sleep(1)
