"""Secrets are never printed, logged, shown by Dagster, put on a command line or world-readable.

Every URL/token setting carries a recognisable secret; the tests trigger the errors, start what
can be started and grep outputs, file modes and the command lines ``ps`` would list.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import httpx
import pytest

from mlsys_assets.config_errors import ConfigurationError
from mlsys_assets.instance import dagster_postgres_url, prepare_dagster_home
from mlsys_assets.processes import ProcessGroup, child_environment, free_port, wait_for_port
from mlsys_assets.resources.registry import layer_resources
from mlsys_assets.resources.source_database import SourceDatabase
from mlsys_assets.secrets import redact_url
from mlsys_assets.settings import Settings
from mlsys_assets.ui import mlflow_server_command

SECRET = "s3cr3t7f3a"
SECRET_ENV = {
    "MLSYS_BACKENDS__DAGSTER_PG_URL": f"postgresql://mlsys:PG{SECRET}@127.0.0.1:1/dagster",
    "MLSYS_BACKENDS__SOURCE_DB_URL": f"postgresql+psycopg://mlsys:SRC{SECRET}@127.0.0.1:1/source",
    "MLSYS_BACKENDS__MLFLOW_TRACKING_URI": f"http://mlsys:MLFLOW{SECRET}@127.0.0.1:1",
    "MLSYS_BACKENDS__REDIS_URL": f"redis://:REDIS{SECRET}@127.0.0.1:1/0",
    "MLSYS_BACKENDS__ADMIN_TOKEN": f"TOKEN{SECRET}",
}


def _secret_settings(home: Path, **backends: object) -> Settings:
    values = {k.removeprefix("MLSYS_BACKENDS__").lower(): v for k, v in SECRET_ENV.items()}
    return Settings(home=home, backends={**values, **backends})


def _command_lines(session: int) -> list[str]:
    """The command line of every live process in ``session``, as ``ps`` shows them."""
    lines = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getsid(int(entry.name)) != session:
                continue
            lines.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, ProcessLookupError):
            continue
    return lines


def test_redact_url_hides_passwords_and_keeps_the_rest() -> None:
    assert redact_url("postgresql://u:pw@db:5432/x") == "postgresql://u:***@db:5432/x"
    assert redact_url("redis://:pw@h:6379/0") == "redis://:***@h:6379/0"
    assert redact_url("error at http://u:pw@h/api?token=abc&x=1") == (
        "error at http://u:***@h/api?token=***&x=1"
    )
    assert redact_url("sqlite:////tmp/mlflow.db") == "sqlite:////tmp/mlflow.db"


def test_settings_repr_and_dump_show_no_secret(tmp_path) -> None:
    settings = _secret_settings(tmp_path)
    shown = repr(settings) + str(settings) + settings.model_dump_json()
    assert SECRET not in shown
    assert settings.admin_secret == f"TOKEN{SECRET}"  # the code that connects still gets it
    assert settings.redis == SECRET_ENV["MLSYS_BACKENDS__REDIS_URL"]


@pytest.mark.process
@pytest.mark.parametrize(
    ("wrong", "named"),
    [
        ({"MLSYS_LOOP__CANARY_SHARE": "2"}, "MLSYS_LOOP__CANARY_SHARE"),
        (
            {"MLSYS_PROFILE": "prod", "MLSYS_BACKENDS__SOURCE_DB_URL": ""},
            "MLSYS_BACKENDS__SOURCE_DB_URL",
        ),
    ],
)
def test_configuration_errors_name_the_variable_and_no_secret(tmp_path, wrong, named) -> None:
    env = {**child_environment(), **SECRET_ENV, "MLSYS_HOME": str(tmp_path / "home"), **wrong}
    done = subprocess.run(
        [sys.executable, "-m", "mlsys_assets.cli", "model", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert named in done.stderr
    assert SECRET not in done.stderr + done.stdout


def test_a_bad_dagster_url_error_hides_its_password() -> None:
    with pytest.raises(ConfigurationError) as raised:
        dagster_postgres_url(f"mysql://mlsys:PG{SECRET}@db/dagster")
    assert "MLSYS_BACKENDS__DAGSTER_PG_URL" in str(raised.value) and SECRET not in str(raised.value)


def test_dagster_yaml_holding_the_password_is_owner_only(tmp_path) -> None:
    settings = _secret_settings(tmp_path)
    config = settings.dagster_home / "dagster.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("left world-readable by an older mlsys\n")
    config.chmod(0o644)
    prepare_dagster_home(settings)
    assert f"PG{SECRET}" in config.read_text()  # Dagster needs it to connect
    assert stat.S_IMODE(config.stat().st_mode) == 0o600


def test_dagster_resources_carry_secrets_as_env_vars_and_runs_resolve_them(tmp_path) -> None:
    settings = _secret_settings(tmp_path, online_store="redis", event_stream="redis")
    resources = layer_resources(settings)
    for name, resource in resources.items():
        assert SECRET not in repr(resource), name  # what Dagster's UI would show
    assert isinstance(resources["source_database"].url, dg.EnvVar)

    @dg.asset
    def resolved_url(source_database: SourceDatabase) -> str:
        return source_database.url

    result = dg.materialize(
        [resolved_url],
        resources={"source_database": resources["source_database"]},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.output_for_node("resolved_url") == SECRET_ENV["MLSYS_BACKENDS__SOURCE_DB_URL"]


@pytest.mark.process
def test_mlflow_ui_gets_its_backend_uri_by_environment_not_argv(tmp_path) -> None:
    # A SQLite URI has no password; its path plays the secret, so ps would show it if passed.
    store = tmp_path / f"store-{SECRET}"
    store.mkdir()
    settings = Settings(
        home=tmp_path / "home", backends={"mlflow_tracking_uri": f"sqlite:///{store}/mlflow.db"}
    )
    port = free_port()
    args, env = mlflow_server_command(settings, "127.0.0.1", port)
    group = ProcessGroup(log_dir=tmp_path / "logs")
    group.env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    server = group.start("mlflow-ui", args, env=env)
    try:
        wait_for_port("127.0.0.1", port, timeout=120, group=group)
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).status_code == 200
        lines = _command_lines(server.popen.pid)  # the server and every worker it started
        assert len(lines) >= 2 and not [line for line in lines if SECRET in line]
        assert (store / "mlflow.db").exists()  # the server did use the URI it was given
    finally:
        group.stop(timeout=10)


@pytest.mark.process
def test_serve_shows_no_secret_in_answers_logs_or_command_line(tmp_path) -> None:
    port = free_port()
    env = {**child_environment(), **SECRET_ENV, "MLSYS_HOME": str(tmp_path / "home")}
    env |= {"MLSYS_BACKENDS__ONLINE_STORE": "redis", "MLSYS_SERVING__REGISTRY_TIMEOUT_SECONDS": "1"}
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        serve = subprocess.Popen(
            [sys.executable, "-m", "mlsys_assets.cli", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port("127.0.0.1", port, timeout=120)
        answers = "".join(
            httpx.get(f"http://127.0.0.1:{port}{path}", timeout=10).text
            for path in ("/model", "/ready", "/metrics")
        )
        assert "registry unreachable" in answers  # the error that used to quote the URI
        assert SECRET not in answers
        assert not [line for line in _command_lines(serve.pid) if SECRET in line]
    finally:
        os.killpg(serve.pid, signal.SIGTERM)
        serve.wait(timeout=30)
    time.sleep(0.1)
    assert SECRET not in log.read_text()
