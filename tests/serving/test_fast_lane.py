"""The fast lane (serving/fast_lane.py) answers /predict and V2 infer exactly as FastAPI's stack.

The same flight is sent once the way the lane takes it (``application/json``) and once the way
only the stack takes it (``application/json; charset=utf-8``, which FastAPI parses alike): the
status, the headers and the body are the same bytes, and both are counted alike in /metrics.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from tests.serving.v2_bodies import infer_body
from tests.serving.world import World, next_day_requests

LANE = "application/json"
STACK = "application/json; charset=utf-8"  # not the lane's: FastAPI's stack answers it


def post(client: TestClient, path: str, body: bytes, content_type: str) -> tuple[int, dict, bytes]:
    response = client.post(path, content=body, headers={"Content-Type": content_type})
    headers = {k: v for k, v in response.headers.items() if k in ("content-type", "content-length")}
    return response.status_code, headers, response.content


def requests_counted(client: TestClient, endpoint: str) -> float:
    total = 0.0
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("mlsys_requests_total{") and f'endpoint="{endpoint}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.mark.parametrize("query", ["", "?explain=true"])
def test_a_prediction_is_the_same_bytes_by_the_lane_and_by_the_stack(
    shared_client: TestClient, shared_world: World, query: str
) -> None:
    flight = next_day_requests(shared_world)[0] | {"request_id": f"lane-{len(query)}"}
    body = json.dumps(flight).encode()
    before = requests_counted(shared_client, "/predict")
    by_lane = post(shared_client, f"/predict{query}", body, LANE)
    by_stack = post(shared_client, f"/predict{query}", body, STACK)
    assert by_lane[0] == 200
    assert by_lane == by_stack
    assert requests_counted(shared_client, "/predict") == before + 2


@pytest.mark.parametrize(
    "body",
    [
        b'{"carrier": "UA"}',  # fields missing
        b'{"carrier": "UA", "distance": NaN}',  # JSON orjson refuses, Python's json takes
        b"[1, 2]",
        b"",
    ],
)
def test_a_refused_prediction_is_the_stacks_422(shared_client: TestClient, body: bytes) -> None:
    by_lane = post(shared_client, "/predict", body, LANE)
    by_stack = post(shared_client, "/predict", body, STACK)
    assert by_lane[0] == 422
    assert by_lane == by_stack


@pytest.mark.parametrize("explain", [False, True])
def test_a_v2_infer_is_the_same_bytes_by_the_lane_and_by_the_stack(
    shared_client: TestClient, shared_world: World, explain: bool
) -> None:
    flight = next_day_requests(shared_world)[0] | {"request_id": f"lane-v2-{explain}"}
    body = json.dumps(infer_body([flight], **({"explain": True} if explain else {}))).encode()
    path = f"/v2/models/{shared_world.settings.registry.model_name}/infer"
    by_lane = post(shared_client, path, body, LANE)
    by_stack = post(shared_client, f"{path}?via=stack", body, STACK)  # same route, any query
    assert by_lane[0] == 200
    assert by_lane == by_stack


def test_a_refused_v2_infer_is_the_protocols_400_either_way(
    shared_client: TestClient, shared_world: World
) -> None:
    path = f"/v2/models/{shared_world.settings.registry.model_name}/infer"
    by_lane = post(shared_client, path, b'{"inputs": []}', LANE)
    assert by_lane[0] == 400
    assert json.loads(by_lane[2]) == {"error": "'inputs' must be a non-empty list of tensors"}
    assert by_lane == post(shared_client, path, b'{"inputs": []}', STACK)
