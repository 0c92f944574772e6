"""Bodies a JSON parser or a validator chokes on get a 4xx with the reason, never a 5xx, and the
keep-alive connection they came on keeps answering.

Everything goes to the real app under uvicorn, over ONE HTTP/1.1 connection that may not be
reopened (``auto_open = 0``): if the server dropped it after a bad body, the valid request that
follows each one would fail.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator

import pytest

from tests.serving.conftest import LiveServer
from tests.serving.world import World, next_day_requests


@pytest.fixture(scope="module")
def live_shared(shared_world: World) -> Iterator[LiveServer]:
    server = LiveServer(shared_world.settings).start()
    yield server
    server.stop()


@pytest.fixture
def connection(live_shared: LiveServer) -> Iterator[http.client.HTTPConnection]:
    conn = http.client.HTTPConnection("127.0.0.1", live_shared.port, timeout=30)
    conn.connect()
    conn.auto_open = 0  # a dropped connection must fail the test, not be silently reopened
    yield conn
    conn.close()


def post(
    conn: http.client.HTTPConnection, path: str, body: bytes
) -> tuple[int, dict[str, object], bytes]:
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    raw = response.read()
    assert response.getheader("connection", "").lower() != "close", "server closes the connection"
    return response.status, dict(response.getheaders()), raw


def flight_text(shared_world: World, **replace: str) -> str:
    """A valid /predict body as JSON text, with some values replaced by raw JSON tokens."""
    flight = next_day_requests(shared_world, 1)[0] | {"request_id": "hostile"}
    text = json.dumps(flight)
    for field, token in replace.items():
        text = text.replace(f'"{field}": {json.dumps(flight[field])}', f'"{field}": {token}')
    assert all(token in text for token in replace.values())
    return text


def hostile_bodies(world: World) -> dict[str, tuple[str, bytes]]:
    """name -> (path, body)."""
    flight = json.loads(flight_text(world))
    feedback = {"request_id": "hostile", "arr_delay": 5}
    return {
        "NaN distance": ("/predict", flight_text(world, distance="NaN").encode()),
        "Infinity distance": ("/predict", flight_text(world, distance="Infinity").encode()),
        "-Infinity distance": ("/predict", flight_text(world, distance="-Infinity").encode()),
        "NaN flight": ("/predict", flight_text(world, flight="NaN").encode()),
        "NaN arr_delay": ("/feedback", json.dumps(feedback).replace("5", "NaN").encode()),
        "NaN in a batch": (
            "/predict/batch",
            ('{"flights": [' + flight_text(world, distance="Infinity") + "]}").encode(),
        ),
        "NaN as the body": ("/predict", b"NaN"),
        "binary": ("/predict", bytes(range(256)) * 4),
        "not UTF-8": ("/predict", b'{"carrier": "\xff\xfe"}'),
        "NUL bytes": ("/predict", flight_text(world, carrier='"U\\u0000"').encode()),
        "truncated JSON": ("/predict", flight_text(world).encode()[:40]),
        "deeply nested": ("/predict", b"[" * 200_000 + b"]" * 200_000),
        "deeply nested in a field": (
            "/predict",
            flight_text(world, tailnum="[" * 50_000 + "]" * 50_000).encode(),
        ),
        "huge integer": ("/predict", flight_text(world, flight="9" * 5000).encode()),
        "huge float": ("/predict", flight_text(world, distance="1e999").encode()),
        "huge string": ("/predict", flight_text(world, carrier=json.dumps("U" * 900_000)).encode()),
        "wrong types": (
            "/predict",
            json.dumps(flight | {"carrier": 12, "flight": "twelve", "distance": [1]}).encode(),
        ),
        "a list": ("/predict", json.dumps([flight]).encode()),
        "a string": ("/predict", b'"flight"'),
        "empty": ("/predict", b""),
        "batch of wrong types": ("/predict/batch", b'{"flights": [1, "a", null, {}]}'),
    }


def test_hostile_bodies_get_a_4xx_with_a_reason_and_the_connection_survives(
    shared_world: World, connection: http.client.HTTPConnection
) -> None:
    valid = flight_text(shared_world).encode()
    for name, (path, body) in hostile_bodies(shared_world).items():
        status, _, raw = post(connection, path, body)
        assert status in (400, 413, 422), f"{name}: {status} {raw[:300]!r}"
        answer = json.loads(raw)  # the reason is JSON, strict (no NaN in it)
        assert answer["detail"], name
        assert len(raw) < 20_000, f"{name}: the 4xx echoes {len(raw)} bytes"
        status, _, raw = post(connection, "/predict", valid)
        assert status == 200, f"valid request after {name}: {status} {raw[:300]!r}"


def test_a_non_finite_number_is_named_in_the_422(
    shared_world: World, connection: http.client.HTTPConnection
) -> None:
    status, _, raw = post(
        connection, "/predict", flight_text(shared_world, distance="NaN").encode()
    )
    assert status == 422
    (error,) = json.loads(raw)["detail"]
    assert error["loc"] == ["body", "distance"]
    assert error["input"] == "NaN"
