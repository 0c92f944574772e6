"""``mlsys ui``: the Dagster webserver and daemon (so sensors run) on one code server, the
MLflow UI, and the report server (``mlsys reports``) the monitoring metadata links to."""

from __future__ import annotations

import click

from mlsys_assets.instance import prepare_dagster_home
from mlsys_assets.processes import (
    ProcessGroup,
    executable,
    free_port,
    is_a_stop,
    raise_on_sigterm,
    stop_with_parent,
    wait_for_port,
)
from mlsys_assets.settings import Settings, get_settings

CODE_LOCATION = ["-m", "mlsys_assets.definitions"]
LOCATION_NAME = "mlsys_assets.definitions"  # as with `-m`: sensor cursors are kept by this name
CODE_SERVER_HOST = "127.0.0.1"
CODE_SERVER_WORKSPACE = """\
# Written by mlsys (mlsys_assets/ui.py): the code server that `mlsys ui` / `mlsys demo` started.
load_from:
  - grpc_server:
      host: {host}
      port: {port}
      location_name: {name}
"""


def create_tracking_store(settings: Settings) -> None:
    """Create (migrate) MLflow's database once, before any server opens it.

    Two processes that find an empty SQLite store both run MLflow's migrations, and the
    loser fails ("table _alembic_tmp_experiments already exists").
    """
    from mlsys_assets.resources.tracking import Tracking

    Tracking.from_settings(settings).client().search_experiments(max_results=1)


def mlflow_server_command(
    settings: Settings, host: str, port: int
) -> tuple[list[str], dict[str, str]]:
    """The MLflow UI's command line and the environment it needs besides the group's.

    The backend store URI may hold a password: it goes by environment (``/proc/<pid>/environ``
    is readable by its owner only), never on the command line, which ``ps`` shows every user.
    """
    args = [
        executable("mlflow"), "server", "--host", host, "--port", str(port),
        "--default-artifact-root", settings.artifact_root, "--workers", "1",
    ]  # fmt: skip
    return args, {"MLFLOW_BACKEND_STORE_URI": settings.tracking_uri}


def start_code_server(
    settings: Settings, group: ProcessGroup, port: int | None = None
) -> list[str]:
    """Start the one code server the daemon and the webserver share; return their ``-w`` args.

    Given a module, each would start its own and the daemon would replace its own every
    minute, loading the code location each time. The server listens once the code is loaded:
    the daemon and webserver must find it ready (the daemon would otherwise retry only a minute
    later). Its run workers fork from a server that has loaded mlsys once (``code_server.py``).
    ``port`` restarts it where the workspace file already points.
    """
    code_port = port or free_port(CODE_SERVER_HOST)
    group.start(
        "dagster-code-server",
        [
            executable("mlsys"), "code-server", *CODE_LOCATION,
            "--location-name", LOCATION_NAME,
            "-h", CODE_SERVER_HOST, "-p", str(code_port), "--log-level", "warning",
        ],
    )  # fmt: skip
    wait_for_port(CODE_SERVER_HOST, code_port, timeout=180, group=group)
    workspace = settings.dagster_home / "workspace.yaml"
    workspace.write_text(
        CODE_SERVER_WORKSPACE.format(host=CODE_SERVER_HOST, port=code_port, name=LOCATION_NAME)
    )
    return ["-w", str(workspace)]


def start_ui(
    settings: Settings,
    group: ProcessGroup,
    host: str,
    dagster_port: int,
    mlflow_port: int,
    wait: bool = True,
    reports_port: int | None = None,
) -> dict[str, str]:
    """Start the code server, webserver, daemon, MLflow UI, report server and stream processor
    in ``group``; return addresses.

    With ``wait=False`` it returns once the code server is up (the caller waits on the other
    ports later), so the servers' slow imports overlap with other work.
    """
    prepare_dagster_home(settings)
    settings.mlflow_dir.mkdir(parents=True, exist_ok=True)
    create_tracking_store(settings)
    group.env["DAGSTER_HOME"] = str(settings.dagster_home)
    group.env["MLSYS_HOME"] = str(settings.home_dir)
    # The MLflow server's background job runner (huey, 7 processes) is not needed for a UI.
    group.env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    dagster_url = f"http://{host}:{dagster_port}"
    mlflow_url = f"http://{host}:{mlflow_port}"
    # The report server: the code server's runs write links to it, so they must agree on it.
    reports_port = reports_port or settings.monitoring.reports_port
    group.env["MLSYS_MONITORING__REPORTS_HOST"] = host
    group.env["MLSYS_MONITORING__REPORTS_PORT"] = str(reports_port)
    reports_url = f"http://{host}:{reports_port}"
    group.start(
        "reports",
        [executable("mlsys"), "reports", "--host", host, "--port", str(reports_port)],
        url=reports_url,
    )
    # The stream processor keeps the online store current between the daily runs.
    group.start("stream", [executable("mlsys"), "stream"])
    args, env = mlflow_server_command(settings, host, mlflow_port)
    group.start("mlflow-ui", args, url=mlflow_url, env=env)
    code_server = start_code_server(settings, group)
    # Dagster's daemon, with the sensor loop of MLSYS_LOOP__SENSOR_LOOP_SECONDS (mlsys_assets/daemon.py).
    group.start("dagster-daemon", [executable("mlsys"), "daemon", *code_server])
    group.start(
        "dagster-webserver",
        [executable("dagster-webserver"), "-h", host, "-p", str(dagster_port), *code_server],
        url=dagster_url,
    )
    if wait:
        wait_for_port(host, dagster_port, timeout=180, group=group)
        wait_for_port(host, mlflow_port, timeout=180, group=group)
    return {"dagster": dagster_url, "mlflow": mlflow_url, "reports": reports_url}


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--dagster-port", default=3000, show_default=True)
@click.option("--mlflow-port", default=5000, show_default=True)
@click.option(
    "--reports-port", type=int, default=None, help="Default: MLSYS_MONITORING__REPORTS_PORT."
)
def ui(host: str, dagster_port: int, mlflow_port: int, reports_port: int | None) -> None:
    """Dagster webserver and daemon (sensors run), the MLflow UI and the report server,
    until Ctrl-C."""
    settings = get_settings()
    group = ProcessGroup(log_dir=settings.home_dir / "logs")
    raise_on_sigterm()
    stop_with_parent()
    try:
        urls = start_ui(settings, group, host, dagster_port, mlflow_port,
                        reports_port=reports_port)  # fmt: skip
        click.echo(f"Dagster UI: {urls['dagster']}\nMLflow UI:  {urls['mlflow']}\n"
                   f"Reports:    {urls['reports']}\nCtrl-C stops.")  # fmt: skip
        group.watch()
    except BaseException as error:
        if not is_a_stop(error):
            raise
    finally:
        group.stop()
