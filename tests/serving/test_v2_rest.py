"""Open Inference Protocol v2 over REST: the same answers as /predict, the protocol's errors."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.serving.v2_bodies import infer_body, outputs
from tests.serving.world import World, next_day_requests

INFER = "/v2/models/flight_delay/infer"


def test_health_and_metadata_follow_the_protocol(shared_client: TestClient) -> None:
    assert shared_client.get("/v2/health/live").json() == {"live": True}
    assert shared_client.get("/v2/health/ready").json() == {"ready": True}
    assert shared_client.get("/v2/models/flight_delay/ready").json()["ready"] is True
    meta = shared_client.get("/v2/models/flight_delay").json()
    assert meta["name"] == "flight_delay" and meta["platform"] == "xgboost"
    assert {t["name"] for t in meta["inputs"]} >= {"carrier", "scheduled_departure", "distance"}
    assert "delay_probability" in {t["name"] for t in meta["outputs"]}


def test_v2_answers_equal_predict_answers(shared_client: TestClient, shared_world: World) -> None:
    flights = [
        f | {"request_id": f"v2eq-{i}"} for i, f in enumerate(next_day_requests(shared_world, 40))
    ]
    expected = [shared_client.post("/predict", json=f).json() for f in flights]
    single = [outputs(shared_client.post(INFER, json=infer_body([f])).json()) for f in flights]
    batch = shared_client.post(INFER, json=infer_body(flights, "b"))
    assert batch.status_code == 200, batch.text
    many = outputs(batch.json())
    assert {e["variant"] for e in expected} == {"champion", "challenger"}  # both models answer
    for i, answer in enumerate(expected):
        for got in (
            {k: v[0] for k, v in single[i].items()},
            {k: v[i] for k, v in many.items()},
        ):
            assert got["request_id"] == answer["request_id"]
            assert got["delay_probability"] == pytest.approx(answer["delay_probability"], abs=1e-9)
            assert got["delayed"] == answer["delayed"]
            assert got["variant"] == answer["variant"]
            assert got["model_version"] == answer["model_version"]
            assert got["missing_features"] == ",".join(answer["missing_features"])


def test_a_request_without_ids_numbers_its_flights_after_the_request_id(
    shared_client: TestClient, shared_world: World
) -> None:
    answer = shared_client.post(INFER, json=infer_body(next_day_requests(shared_world, 3), "req-7"))
    assert answer.json()["id"] == "req-7"
    assert outputs(answer.json())["request_id"] == ["req-7:0", "req-7:1", "req-7:2"]


def _body(**changes: Any) -> dict[str, Any]:
    body = infer_body(
        [
            {
                "carrier": "UA",
                "flight": 1545,
                "origin": "EWR",
                "dest": "IAH",
                "scheduled_departure": "2013-01-22T09:15:00-05:00",
                "distance": 1400.0,
            }
        ]
    )
    body.update(changes)
    return body


def _input(name: str, **changes: Any) -> dict[str, Any]:
    body = _body()
    for tensor in body["inputs"]:
        if tensor["name"] == name:
            tensor.update(changes)
    return body


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (_input("carrier", data=["UAX"]), "carrier"),
        (_input("flight", datatype="BYTES", data=["1545"]), "datatype"),
        (_input("distance", data=[-5]), "distance"),
        (_input("scheduled_departure", data=["tomorrow"]), "scheduled_departure"),
        (_input("origin", shape=[2]), "shape"),
        (_body(inputs=[]), "inputs"),
        (
            _body(inputs=[{"name": "carrier", "datatype": "BYTES", "shape": [1], "data": ["UA"]}]),
            "missing",
        ),
        (_body(parameters={"explain": "maybe"}), "explain"),
        (_body(outputs=[{"name": "nope"}]), "nope"),
        ([1, 2], "object"),
    ],
)
def test_a_bad_request_gets_the_protocols_error_body(
    shared_client: TestClient, body: Any, reason: str
) -> None:
    answer = shared_client.post(INFER, json=body)
    assert answer.status_code == 400, answer.text
    assert set(answer.json()) == {"error"} and reason in answer.json()["error"]


def test_not_json_and_unknown_models_get_the_protocols_errors(shared_client: TestClient) -> None:
    answer = shared_client.post(
        INFER, content=b"{not json", headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400 and "not JSON" in answer.json()["error"]
    for path in ("/v2/models/nope", "/v2/models/nope/ready", "/v2/models/nope/infer"):
        answer = shared_client.request(
            "POST" if path.endswith("infer") else "GET", path, json=_body()
        )
        assert answer.status_code == 404 and "nope" in answer.json()["error"]
    assert shared_client.get("/v2/no/such/path").json() == {"error": "Not Found"}


def test_v2_requests_are_counted_in_metrics(shared_client: TestClient) -> None:
    shared_client.post(INFER, json=_body())
    text = shared_client.get("/metrics").text
    assert 'mlsys_requests_total{endpoint="/v2/models/flight_delay/infer",status="200"' in text
