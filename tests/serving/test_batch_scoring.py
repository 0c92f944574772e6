"""Batch scoring: the next day's flights, scored offline, equal the online answers."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd
from fastapi.testclient import TestClient

from mlsys_assets.resources import build_resources
from mlsys_assets.resources.warehouse import Warehouse
from mlsys_assets.scoring import build_defs
from mlsys_assets.scoring.assets import batch_scores
from mlsys_assets.scoring.batch import flight_features
from mlsys_assets.scoring.loading import RegistryReader
from serving.app import create_app
from tests.serving.conftest import with_settings
from tests.serving.world import LAST_DAY, World, next_day_requests


def test_batch_scores_equal_online_scores(world: World) -> None:
    settings = world.settings
    result = dg.materialize(
        [batch_scores],
        partition_key=str(LAST_DAY),
        resources=build_resources(settings),
    )
    assert result.success
    metadata = result.asset_materializations_for_node("batch_scores")[0].metadata
    assert metadata["model_version"].value == world.champion
    with Warehouse(path=str(settings.warehouse_path)).connect(read_only=True) as conn:
        scores = conn.execute(
            "SELECT * FROM serving.batch_scores ORDER BY scheduled_departure, carrier, flight, origin"
        ).df()
    requests = next_day_requests(world)
    assert len(scores) == len(requests) == metadata["dagster/row_count"].value
    assert set(scores["model_version"]) == {world.champion}
    assert set(scores["flight_date"].astype(str)) == {str(world.next_day)}
    assert set(scores["partition_date"].astype(str)) == {str(LAST_DAY)}

    champion_only = with_settings(world, loop={"canary_share": 0.0})
    with TestClient(create_app(champion_only.settings)) as client:
        online = []
        for start in range(0, len(requests), 1000):
            response = client.post(
                "/predict/batch", json={"flights": requests[start : start + 1000]}
            )
            online += response.json()["predictions"]
    online_frame = pd.DataFrame(online)
    assert set(online_frame["variant"]) == {"champion"}
    assert set(online_frame["model_version"]) == {world.champion}
    pd.testing.assert_series_equal(
        online_frame["delay_probability"],
        scores["delay_probability"],
        check_names=False,
        rtol=1e-9,
        atol=1e-12,
    )
    assert online_frame["delayed"].tolist() == scores["delayed"].tolist()
    assert (
        online_frame["missing_features"].map(sorted).tolist()
        == scores["missing_features"].map(sorted).tolist()
    )


def test_the_registered_pyfunc_scores_as_mlsys_does(shared_world: World) -> None:
    """``mlflow.pyfunc`` (what `mlflow models serve` and ``spark_udf`` load) = the native path."""
    import mlflow

    settings = shared_world.settings
    reader = RegistryReader(settings.tracking_uri, settings.registry.model_name)
    bundle = reader.load(shared_world.champion)
    with Warehouse(path=str(settings.warehouse_path)).connect(read_only=True) as conn:
        features = flight_features(conn, shared_world.next_day)
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    model = mlflow.pyfunc.load_model(
        f"models:/{settings.registry.model_name}/{shared_world.champion}"
    )
    native = bundle.predict_frame(features)
    frame = bundle.spec.to_input_frame(features)
    pyfunc = model.predict(frame)
    assert len(pyfunc) == len(features) > 100
    np.testing.assert_allclose(np.asarray(pyfunc, dtype=float), native, rtol=1e-9, atol=1e-12)
    few = model.predict(frame.head(5))  # a request's rows take the row-wise encoder
    np.testing.assert_allclose(np.asarray(few, dtype=float), native[:5], rtol=1e-9, atol=1e-12)


def test_rematerializing_a_partition_replaces_its_rows(world: World) -> None:
    resources = build_resources(world.settings)
    for _ in range(2):
        assert dg.materialize(
            [batch_scores], partition_key=str(LAST_DAY), resources=resources
        ).success
    with Warehouse(path=str(world.settings.warehouse_path)).connect(read_only=True) as conn:
        (count,) = conn.execute("SELECT count(*) FROM serving.batch_scores").fetchone()
    assert count == len(next_day_requests(world))


def test_layer_definitions() -> None:
    assert list(build_defs().assets or []) == [batch_scores]
    assert batch_scores.group_names_by_key[batch_scores.key] == "scoring"
    assert batch_scores.partitions_def is not None
