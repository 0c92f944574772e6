"""explain=true: exact TreeSHAP contributions that, with the bias, are the model's margin."""

from __future__ import annotations

import math
from collections.abc import Iterator

import duckdb
import numpy as np
import pytest
from fastapi.testclient import TestClient

from mlsys_assets.monitoring.explanations import mean_abs_contributions, store_day
from serving.app import create_app
from serving.explain import booster_contributions, contributions
from serving.pipeline import flight_fields
from tests.serving.conftest import with_settings
from tests.serving.world import World, flight_requests, next_day_requests


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


@pytest.fixture
def all_features(world: World) -> Iterator[TestClient]:
    """Every contribution listed (top k = all), so each can be checked."""
    with TestClient(
        create_app(with_settings(world, serving={"explain_top_k": 200}).settings)
    ) as client:
        yield client


def test_contributions_plus_bias_are_the_margin_of_every_answer(
    shared_client: TestClient, shared_world: World
) -> None:
    flights = [
        f | {"request_id": f"x-{i}"} for i, f in enumerate(next_day_requests(shared_world, 200))
    ]
    answers = shared_client.post("/predict/batch?explain=true", json={"flights": flights}).json()
    singles = [shared_client.post("/predict?explain=true", json=f).json() for f in flights[:20]]
    answers = answers["predictions"]
    assert {a["variant"] for a in answers} == {"champion", "challenger"}
    for answer in answers + singles:
        explanation = answer["explanation"]
        assert len(explanation["contributions"]) == 5  # the default top k
        listed = [c["contribution"] for c in explanation["contributions"]]
        assert listed == sorted(listed, key=abs, reverse=True)
        total = sum(listed) + explanation["others"] + explanation["bias"]
        assert total == pytest.approx(_logit(answer["delay_probability"]), abs=2e-3)


def test_each_contribution_is_the_boosters_own_and_sums_to_its_margin(
    all_features: TestClient, world: World
) -> None:
    services = all_features.app.state.services
    requests = flight_requests(world, 100, "m-")
    scored = services.pipeline.score(requests, explain=True)
    flights = [flight_fields(r) for r in requests]
    features = services.features.lookup(flights, services.pipeline.clock())
    for variant, model in (
        ("champion", services.watcher.state.champion),
        ("challenger", services.watcher.state.challenger),
    ):
        rows = [i for i, v in enumerate(scored.variant) if v == variant]
        matrix = model.encode_columns(features.columns, rows)
        margins = model.booster.inplace_predict(matrix, predict_type="margin")
        shap = contributions(model, matrix)
        assert np.allclose(shap.sum(axis=1), margins, atol=1e-4)
        assert np.allclose(shap, booster_contributions(model, matrix), atol=1e-5)  # XGBoost's
        for row, i in enumerate(rows):
            explanation = scored.explanations[i]
            assert explanation.others == pytest.approx(0.0, abs=1e-9)  # all listed
            by_name = {c.feature: c.contribution for c in explanation.contributions}
            expected = dict(zip(model.feature_names, shap[row][:-1], strict=True))
            assert by_name == pytest.approx(expected, abs=1e-6)
            assert explanation.bias + sum(by_name.values()) == pytest.approx(margins[row], abs=1e-4)


def test_explanations_show_the_values_the_model_received(
    shared_client: TestClient, shared_world: World
) -> None:
    flight = next_day_requests(shared_world, 1)[0]
    answer = shared_client.post("/predict?explain=true", json=flight).json()
    named = {c["feature"]: c["value"] for c in answer["explanation"]["contributions"]}
    for name in ("carrier", "origin", "dest"):
        if name in named:
            assert named[name] == flight[name]
    missing = set(answer["missing_features"])
    assert all(value is None for name, value in named.items() if name in missing)


def test_answers_without_explain_carry_none(shared_client: TestClient, shared_world: World) -> None:
    answer = shared_client.post("/predict", json=next_day_requests(shared_world, 1)[0]).json()
    assert "explanation" not in answer


def test_contributions_are_logged_with_the_prediction(world: World) -> None:
    flights = [f | {"request_id": f"log-{i}"} for i, f in enumerate(next_day_requests(world, 30))]
    with TestClient(create_app(world.settings)) as client:
        explained = client.post(
            "/predict/batch?explain=true", json={"flights": flights[:20]}
        ).json()
        client.post("/predict/batch", json={"flights": flights[20:]})
    log = world.settings.predictions_dir / "log"
    rows = duckdb.sql(
        "SELECT request_id, contribution_bias, contributions "
        f"FROM read_parquet('{log}/**/*.parquet') WHERE variant != 'shadow'"
    ).fetchall()
    by_id = {rid: (bias, values) for rid, bias, values in rows}
    for answer in explained["predictions"]:
        bias, values = by_id[answer["request_id"]]
        assert bias == pytest.approx(answer["explanation"]["bias"])
        for c in answer["explanation"]["contributions"]:
            assert values[c["feature"]] == pytest.approx(c["contribution"])
    for flight in flights[20:]:
        bias, values = by_id[flight["request_id"]]
        assert bias is None and all(v is None for v in values.values())


def test_monitoring_keeps_the_days_mean_absolute_contribution_per_feature(
    all_features: TestClient, world: World
) -> None:
    flights = [f | {"request_id": f"mon-{i}"} for i, f in enumerate(next_day_requests(world, 80))]
    answers = all_features.post("/predict/batch?explain=true", json={"flights": flights}).json()
    all_features.post("/predict/batch", json={"flights": flights[:10]})  # not explained
    all_features.app.state.services.prediction_log.flush()
    found = mean_abs_contributions(world.settings.predictions_dir / "log", world.next_day)
    expected: dict[str, list[float]] = {}
    for answer in answers["predictions"]:
        for c in answer["explanation"]["contributions"]:
            expected.setdefault(c["feature"], []).append(abs(c["contribution"]))
    by_feature = dict(zip(found["feature"], found["mean_abs_contribution"], strict=True))
    assert by_feature == pytest.approx({k: float(np.mean(v)) for k, v in expected.items()})
    assert set(found["explained"]) == {80}
    assert list(found["mean_abs_contribution"]) == sorted(by_feature.values(), reverse=True)
    with duckdb.connect(str(world.settings.home_dir / "m.duckdb")) as conn:
        store_day(conn, world.next_day, found)
        store_day(conn, world.next_day, found)  # a rerun replaces the day
        assert conn.execute("SELECT count(*) FROM monitoring.feature_contributions").fetchone()[
            0
        ] == len(found)
