"""Serving on a real MLflow tracking server: the champion is loaded over HTTP, not the fallback.

A real ``mlflow server`` runs on 127.0.0.1 (a free port) with its own SQLite backend store and
artifact destination in a tmp dir; a model is trained and registered there by the registry layer,
exactly as a deployment with ``MLSYS_BACKENDS__MLFLOW_TRACKING_URI=http://...`` does, and the real app
under uvicorn must serve it.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mlsys_assets.model_contract import ALIAS_CHAMPION
from mlsys_assets.processes import child_environment, executable, free_port
from mlsys_assets.registry.workflow import train_and_register
from mlsys_assets.settings import Settings
from tests.serving.conftest import ADMIN_TOKEN, LiveServer
from tests.serving.world import (
    FIRST_DAY,
    LAST_DAY,
    TEST_START,
    TRAIN_END,
    World,
    next_day_requests,
    set_alias,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def tracking_server(tmp_path: Path) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a fresh ``mlflow server`` (stopped after the test)."""
    port = free_port("127.0.0.1")
    store = tmp_path / "mlflow-server"
    store.mkdir()
    env = child_environment() | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    log = (store / "server.log").open("wb")
    process = subprocess.Popen(
        [
            executable("mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{store / 'mlflow.db'}",
            "--artifacts-destination",
            str(store / "artifacts"),
            "--workers",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, (store / "server.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "mlflow server did not answer /health in 120 s"
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_serving_loads_the_champion_from_a_tracking_server(
    world_template: World,
    tracking_server: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The world's data and online store; its registry is replaced by the server.
    home = tmp_path / "home"
    shutil.copytree(
        world_template.settings.home_dir,
        home,
        ignore=shutil.ignore_patterns("mlflow", "predictions", "serving"),
    )
    monkeypatch.setenv("MLSYS_BACKENDS__MLFLOW_TRACKING_URI", tracking_server)
    # The app sets MLflow's HTTP knobs itself (setdefault): an earlier test's value must not hide
    # what the app chooses.
    for name in ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "MLFLOW_HTTP_REQUEST_MAX_RETRIES"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(
        home=home, backends={"admin_token": ADMIN_TOKEN}, serving={"poll_seconds": 3600.0}
    )
    assert settings.tracking_uri == tracking_server

    fast = settings.replace(
        training={"validation_days": 4, "test_days": 4, "search_trials": 1, "threads": 1}
    )
    registered = train_and_register(
        fast, FIRST_DAY, TRAIN_END, TEST_START, LAST_DAY, trials=1, seed=1
    )
    set_alias(settings, ALIAS_CHAMPION, registered.version)

    server = LiveServer(settings).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            assert client.get("/ready").status_code == 200
            model = client.get("/model").json()
            champion = [v for v in model["versions"] if v["variant"] == "champion"]
            assert [v["version"] for v in champion] == [registered.version], model
            assert model["registry_reachable"] is True, model
            flight = next_day_requests(world_template, 1)[0] | {"request_id": "over-http"}
            answer = client.post("/predict", json=flight)
            assert answer.status_code == 200, answer.text
            assert answer.json()["variant"] == "champion"
            assert answer.json()["model_version"] == registered.version
            assert answer.json()["fallbacks"] == []
    finally:
        server.stop()
