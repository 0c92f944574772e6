"""Fallback paths answer 200 with the variant and flags set, and count each reason."""

from __future__ import annotations

import shutil
import time

import numpy as np
import pytest
import xgboost as xgb
from fastapi.testclient import TestClient

from mlsys_assets.features.catalog import FEATURE_VIEWS, SERVED
from mlsys_assets.resources.tracking import Tracking
from mlsys_assets.scoring.predictor import ModelBundle
from serving.app import create_app
from serving.features import FILE_CHECK_SECONDS
from serving.models import ServingModels
from tests.serving.conftest import admin_headers, with_settings
from tests.serving.world import World, next_day_requests, set_alias

STORED = {f.name for v in (*FEATURE_VIEWS, *SERVED.on_demand) for f in v.features}


def _fallback_count(client: TestClient, reason: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f'mlsys_fallbacks_total{{reason="{reason}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_online_store_removed_before_start(world: World) -> None:
    world.settings.online_store_path.unlink()
    with TestClient(create_app(world.settings)) as client:
        answer = client.post("/predict", json=next_day_requests(world, 1)[0]).json()
        assert answer["variant"] in ("champion", "challenger")
        assert answer["fallbacks"] == ["online_store_unavailable"]
        assert set(answer["missing_features"]) == STORED
        assert client.get("/ready").status_code == 503
        assert client.get("/ready").json()["reasons"] == ["online store unusable"]
        assert _fallback_count(client, "online_store_unavailable") == 1.0
    assert not world.settings.online_store_path.exists()  # serving never creates the store


def test_online_store_removed_while_serving(world: World) -> None:
    flight = next_day_requests(world, 1)[0] | {"request_id": "fixed"}
    with TestClient(create_app(world.settings)) as client:
        before = client.post("/predict", json=flight).json()
        assert before["fallbacks"] == []
        world.settings.online_store_path.unlink()
        time.sleep(FILE_CHECK_SECONDS + 0.2)
        after = client.post("/predict", json=flight).json()
        assert after["fallbacks"] == ["online_store_unavailable"]
        assert after["model_version"] == before["model_version"]


def test_registry_unreachable_keeps_the_last_model(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A connection per call (MLflow's NullPool option), so the outage is seen at once.
    monkeypatch.setenv("MLFLOW_SQLALCHEMYSTORE_POOLCLASS", "NullPool")
    database = world.settings.mlflow_dir / "mlflow.db"
    flight = next_day_requests(world, 1)[0]
    with TestClient(create_app(world.settings)) as client:
        healthy = client.post("/predict", json=flight | {"request_id": "a"}).json()
        shutil.move(database, database.with_suffix(".away"))
        database.mkdir()  # the registry's database cannot be opened any more
        reload = client.post("/admin/reload", headers=admin_headers()).json()
        assert reload["ok"] is False and reload["changed"] is False
        assert client.get("/model").json()["registry_reachable"] is False
        answer = client.post("/predict", json=flight | {"request_id": "a"}).json()
        assert answer == healthy
        assert _fallback_count(client, "registry_unreachable") >= 1.0


def test_registry_unreachable_at_start_serves_the_baseline(world: World) -> None:
    unreachable = with_settings(
        world, backends={"mlflow_tracking_uri": "http://127.0.0.1:9"}
    )  # refused
    flight = next_day_requests(world, 1)[0]
    with TestClient(create_app(unreachable.settings)) as client:
        answer = client.post("/predict", json=flight).json()
        assert answer["variant"] == "fallback"
        assert "no_model" in answer["fallbacks"]
        assert client.get("/ready").status_code == 503
        assert client.get("/health").status_code == 200


def test_no_model_answers_the_prior_then_the_cached_baseline(world: World) -> None:
    flight = next_day_requests(world, 1)[0]
    set_alias(world.settings, "champion", None)
    set_alias(world.settings, "challenger", None)
    with TestClient(create_app(world.settings)) as client:
        answer = client.post("/predict", json=flight).json()
        assert answer["variant"] == "fallback"
        assert answer["model_version"] is None
        assert answer["rule"] == "prior"
        assert answer["fallbacks"] == ["no_model"]
        assert client.get("/ready").json()["model"] is False
    # A process that once loaded a model caches its baseline for the next cold start.
    set_alias(world.settings, "champion", world.champion)
    with TestClient(create_app(world.settings)):
        pass
    set_alias(world.settings, "champion", None)
    with TestClient(create_app(world.settings)) as client:
        answer = client.post("/predict", json=flight).json()
        assert answer["variant"] == "fallback"
        assert answer["rule"] == "baseline"
        assert answer["model_version"] == world.champion
        assert 0.0 < answer["delay_probability"] < 1.0


def test_broken_champion_version_keeps_the_current_one(world: World) -> None:
    flight = next_day_requests(world, 1)[0] | {"request_id": "same"}
    with TestClient(create_app(world.settings)) as client:
        before = client.post("/predict", json=flight).json()
        client_ = Tracking.from_settings(world.settings).client()
        empty = world.settings.home_dir / "empty-model"
        empty.mkdir()
        broken = client_.create_model_version("flight_delay", source=empty.as_uri()).version
        set_alias(world.settings, "champion", str(broken))  # a version that cannot load
        reload = client.post("/admin/reload", headers=admin_headers()).json()
        assert reload["ok"] is False
        assert client.post("/predict", json=flight).json() == before
        assert _fallback_count(client, "champion_load_failed") == 1.0


def test_champion_failing_to_predict_falls_back_to_previous(world: World) -> None:
    flight = next_day_requests(world, 1)[0] | {"request_id": "prev"}
    with TestClient(create_app(world.settings)) as client:
        services = client.app.state.services
        good = services.watcher.state.champion
        # A real booster whose input width does not match the spec: predicting raises.
        narrow = xgb.train(
            {"objective": "binary:logistic"},
            xgb.DMatrix(np.random.default_rng(0).normal(size=(50, 2)), label=np.arange(50) % 2),
            num_boost_round=2,
        )
        broken = ModelBundle(
            name="flight_delay", version="99", booster=narrow, spec=good.spec, threshold=0.5
        )
        services.watcher.state = ServingModels(
            champion=broken, previous=good, threshold=0.5, baseline=good.baseline
        )
        answer = client.post("/predict", json=flight).json()
        assert answer["variant"] == "champion"
        assert answer["model_version"] == good.version
        assert answer["fallbacks"] == ["champion_predict_failed", "previous_champion"]
        services.watcher.state = ServingModels(champion=broken, baseline=good.baseline)
        last = client.post("/predict", json=flight).json()
        assert last["variant"] == "fallback" and last["rule"] == "baseline"
        assert set(SERVED.feature_names) >= set(last["missing_features"])
