"""The HTTP contract of every endpoint (docs/architecture.md "HTTP"), against a real model and
online store."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from mlsys_assets.features.catalog import SERVED
from mlsys_assets.settings import Settings
from serving.app import create_app
from tests.serving.conftest import admin_headers
from tests.serving.world import World, next_day_requests


@pytest.fixture
def world(shared_world: World) -> World:
    """Every test here only reads: they share one world and one running app."""
    return shared_world


@pytest.fixture
def client(shared_client: TestClient) -> TestClient:
    return shared_client


PREDICTION_FIELDS = {
    "request_id",
    "delay_probability",
    "delayed",
    "model_name",
    "model_version",
    "variant",
    "missing_features",
    "rule",
    "threshold",
    "fallbacks",
}


def test_predict_answers_every_contract_field(client: TestClient, world: World) -> None:
    body = next_day_requests(world, 1)[0] | {"request_id": "r-1"}
    response = client.post("/predict", json=body)
    assert response.status_code == 200
    answer = response.json()
    assert set(answer) == PREDICTION_FIELDS
    assert answer["request_id"] == "r-1"
    assert 0.0 <= answer["delay_probability"] <= 1.0
    assert answer["model_name"] == "flight_delay"
    assert answer["variant"] in ("champion", "challenger")
    expected = world.champion if answer["variant"] == "champion" else world.challenger
    assert answer["model_version"] == expected
    assert answer["delayed"] == (answer["delay_probability"] >= answer["threshold"])
    assert answer["rule"] == "threshold"
    assert answer["fallbacks"] == []
    assert set(answer["missing_features"]) <= set(SERVED.feature_names)
    # The next day's weather is older than its TTL at prediction time: imputed and listed.
    assert "weather_temp" in answer["missing_features"]


def test_predict_without_request_id_gets_one(client: TestClient, world: World) -> None:
    body = next_day_requests(world, 1)[0]
    first = client.post("/predict", json=body).json()
    second = client.post("/predict", json=body).json()
    assert first["request_id"] and first["request_id"] != second["request_id"]


def test_same_request_id_same_answer(client: TestClient, world: World) -> None:
    body = next_day_requests(world, 1)[0] | {"request_id": "sticky-42"}
    answers = [client.post("/predict", json=body).json() for _ in range(3)]
    assert len({(a["variant"], a["model_version"], a["delay_probability"]) for a in answers}) == 1


def test_batch_answers_in_order_like_single_predictions(client: TestClient, world: World) -> None:
    flights = [f | {"request_id": f"b-{i}"} for i, f in enumerate(next_day_requests(world, 40))]
    response = client.post("/predict/batch", json={"flights": flights})
    assert response.status_code == 200
    batch = response.json()["predictions"]
    assert [p["request_id"] for p in batch] == [f["request_id"] for f in flights]
    for flight, answer in zip(flights, batch, strict=True):
        single = client.post("/predict", json=flight).json()
        assert single == answer


def test_batch_limits(client: TestClient, world: World) -> None:
    flight = next_day_requests(world, 1)[0]
    too_many = client.post("/predict/batch", json={"flights": [flight] * 1001})
    assert too_many.status_code == 422
    assert too_many.json()["detail"][0]["loc"] == ["body", "flights"]
    assert client.post("/predict/batch", json={"flights": []}).status_code == 422
    full = client.post("/predict/batch", json={"flights": [flight] * 1000})
    assert full.status_code == 200
    assert len(full.json()["predictions"]) == 1000


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"carrier": "ua"}, "carrier"),
        ({"carrier": 12}, "carrier"),
        ({"flight": 0}, "flight"),
        ({"flight": "abc"}, "flight"),
        ({"tailnum": "N1 2"}, "tailnum"),
        ({"origin": "NEWARK"}, "origin"),
        ({"dest": ""}, "dest"),
        ({"scheduled_departure": "2013-01-22T10:00:00"}, "scheduled_departure"),  # no offset
        ({"scheduled_departure": "tomorrow"}, "scheduled_departure"),
        ({"scheduled_departure": "1900-01-01T00:00:00Z"}, "scheduled_departure"),
        ({"distance": -5}, "distance"),
        ({"distance": "far"}, "distance"),
        ({"request_id": "x" * 65}, "request_id"),
        ({"request_id": "../../etc"}, "request_id"),
        ({"model_uri": "models:/other/1"}, "model_uri"),  # nothing chooses a model
        ({"online_store": "/tmp/x.sqlite"}, "online_store"),
    ],
)
def test_invalid_input_422_names_the_field(
    client: TestClient, world: World, change: dict[str, object], field: str
) -> None:
    body = next_day_requests(world, 1)[0] | change
    response = client.post("/predict", json=body)
    assert response.status_code == 422
    locations = [error["loc"] for error in response.json()["detail"]]
    assert ["body", field] in locations, locations


def test_missing_field_and_bad_json_are_422(client: TestClient, world: World) -> None:
    body = next_day_requests(world, 1)[0]
    del body["carrier"]
    response = client.post("/predict", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "carrier"]
    broken = client.post(
        "/predict", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert broken.status_code == 422
    assert client.post("/predict", json=[1, 2]).status_code == 422


def test_body_over_the_limit_is_413(world: World) -> None:
    settings = world.settings.replace(serving={"max_body_bytes": 4096})
    with TestClient(create_app(settings)) as client:
        flights = next_day_requests(world, 100)
        assert client.post("/predict/batch", json={"flights": flights}).status_code == 413

        def chunks():  # no Content-Length: counted while streaming
            yield b'{"flights": ['
            for _ in range(400):
                yield b'{"carrier": "UA"},'
            yield b"]}"

        assert client.post("/predict/batch", content=chunks()).status_code == 413
        assert client.post("/predict", json=flights[0]).status_code == 200


def test_feedback(client: TestClient) -> None:
    ok = client.post("/feedback", json={"request_id": "r-1", "arr_delay": 22.0})
    assert ok.status_code == 200
    assert ok.json() == {"request_id": "r-1", "accepted": True}
    cancelled = client.post("/feedback", json={"request_id": "r-2", "cancelled": True})
    assert cancelled.status_code == 200
    both = client.post("/feedback", json={"request_id": "r-3", "arr_delay": 1, "cancelled": True})
    assert both.status_code == 422
    assert client.post("/feedback", json={"request_id": "r-4"}).status_code == 422
    assert client.post("/feedback", json={"arr_delay": 3}).json()["detail"][0]["loc"] == [
        "body",
        "request_id",
    ]


def test_health_ready_model(client: TestClient, world: World) -> None:
    assert client.get("/health").json() == {"status": "ok", "model_version": world.champion}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "model": True, "online_store": True, "reasons": []}
    model = client.get("/model").json()
    assert model["model_name"] == "flight_delay"
    shares = {v["variant"]: (v["version"], v["share"]) for v in model["versions"]}
    assert shares == {"champion": (world.champion, 0.8), "challenger": (world.challenger, 0.2)}
    assert model["registry_reachable"] is True


def test_metrics_expose_requests_latency_fallbacks_versions(
    client: TestClient, world: World
) -> None:
    client.post("/predict", json=next_day_requests(world, 1)[0])
    client.post("/predict", json={"carrier": "bad"})
    text = client.get("/metrics").text
    assert 'mlsys_requests_total{endpoint="/predict",status="200",variant=' in text
    assert 'mlsys_requests_total{endpoint="/predict",status="422",variant="none"}' in text
    assert 'mlsys_request_latency_seconds_bucket{endpoint="/predict"' in text
    assert f'mlsys_model_version{{alias="champion"}} {float(world.champion)}' in text
    assert "mlsys_fallbacks_total" in text or "# TYPE mlsys_fallbacks counter" in text


def test_admin_reload_needs_the_token(client: TestClient) -> None:
    assert client.post("/admin/reload").status_code == 401
    wrong = client.post("/admin/reload", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    basic = client.post("/admin/reload", headers={"Authorization": "Basic dGVzdA=="})
    assert basic.status_code == 401
    ok = client.post("/admin/reload", headers=admin_headers())
    assert ok.status_code == 200
    assert ok.json()["ok"] is True


def test_admin_disabled_without_a_token(world: World) -> None:
    settings = world.settings.replace(backends={"admin_token": None})
    with TestClient(create_app(settings)) as client:
        assert client.post("/admin/reload", headers=admin_headers()).status_code == 403


def test_prod_refuses_to_start_without_an_admin_token(world: World) -> None:
    with pytest.raises(ValueError, match="MLSYS_BACKENDS__ADMIN_TOKEN"):
        Settings(
            home=world.settings.home,
            profile="prod",
            backends={"source_db_url": "sqlite://", "mlflow_tracking_uri": "sqlite://"},
        )
    unsafe = world.settings.replace(profile="prod", backends={"admin_token": None})
    with pytest.raises(RuntimeError, match="MLSYS_BACKENDS__ADMIN_TOKEN"):
        create_app(unsafe)


def test_business_rules_override_the_threshold_and_say_so(world: World) -> None:
    rules = [
        {"name": "ua_always_late", "carriers": ["UA"], "delayed": True},
        {"name": "sure_on_time", "max_probability": 0.0001, "delayed": False},
    ]
    settings = world.settings.replace(serving={"rules": rules}, loop={"canary_share": 0.0})
    with TestClient(create_app(settings)) as client:
        flights = next_day_requests(world, 60)
        answers = client.post("/predict/batch", json={"flights": flights}).json()["predictions"]
    for flight, answer in zip(flights, answers, strict=True):
        if flight["carrier"] == "UA":
            assert (answer["rule"], answer["delayed"]) == ("ua_always_late", True)
        else:
            assert answer["rule"] == "threshold"
            assert answer["delayed"] == (answer["delay_probability"] >= answer["threshold"])
    assert any(f["carrier"] == "UA" for f in flights)


def test_bad_rules_stop_the_app_at_creation(world: World) -> None:
    for rules in (
        [{"name": "x"}],
        [{"name": "threshold", "delayed": True}],
        [{"delayed": 1, "name": "a", "colour": "red"}],
    ):
        with pytest.raises(ValueError):
            create_app(world.settings.replace(serving={"rules": rules}))
