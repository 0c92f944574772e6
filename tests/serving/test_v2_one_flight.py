"""A one-flight V2 REST body read by ``codec.one_flight`` gives the call, or the refusal, that
the full path (``rest_tensors`` then ``flights_from_tensors``) gives; any other body is left to
the full path."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from serving.v2 import codec
from tests.serving.v2_bodies import infer_body

FLIGHT = {
    "carrier": "UA",
    "flight": 1545,
    "tailnum": "N14228",
    "origin": "EWR",
    "dest": "IAH",
    "scheduled_departure": "2013-01-22T09:15:00-05:00",
    "distance": 1400,
}


def body(body_id: str = "", **fields: Any) -> dict[str, Any]:
    return infer_body([FLIGHT | fields], body_id)


def changed(tensor: str, **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(body())
    for item in out["inputs"]:
        if item["name"] == tensor:
            item.update(changes)
    return out


def full_path(given: Any) -> codec.InferCall | str:
    try:
        return codec.flights_from_tensors(*codec.rest_tensors(given))
    except codec.V2Error as exc:
        return f"V2Error: {exc}"


def one_flight(given: Any) -> codec.InferCall | str | None:
    try:
        return codec.one_flight(given)
    except codec.V2Error as exc:
        return f"V2Error: {exc}"


TAKEN = [
    body(),
    body("req-7"),  # the body's id names the flight
    body("req-7", request_id="own-id"),  # the flight's own id wins
    body(tailnum=""),  # no tail number
    body(carrier="ua"),  # refused: the same reason
    body(scheduled_departure="2013-01-22T09:15:00"),  # no offset: refused alike
    body(distance=-3),
    body(flight="abc"),
    body(flight=1.5),
    body(request_id="bad id!"),
    changed("flight", datatype="INT32"),
    changed("distance", data=[None]),
    changed("origin", data=[{"nested": 1}]),
    {"inputs": [i for i in body()["inputs"] if i["name"] != "tailnum"]},
]
LEFT = [
    body() | {"parameters": {"explain": True}},
    body() | {"parameters": {}},
    body() | {"outputs": [{"name": "delayed"}]},
    body() | {"id": None},
    body() | {"extra": 1},
    {"inputs": [i for i in body()["inputs"] if i["name"] != "carrier"]},  # missing input
    {"inputs": body()["inputs"] + [body()["inputs"][0]]},  # an input twice
    {"inputs": body()["inputs"] + [{"name": "x", "datatype": "BYTES", "shape": [1], "data": [1]}]},
    changed("carrier", datatype="FP64"),
    changed("carrier", shape=[1, 1]),
    changed("carrier", shape=[True]),
    changed("carrier", shape=[1.0]),
    changed("carrier", data=[["UA"]]),
    changed("carrier", data=["UA", "DL"]),
    changed("carrier", data="UA"),
    changed("carrier", name=["carrier"]),
    {"inputs": []},
    {"inputs": [1]},
    [1, 2],
    "text",
]


@pytest.mark.parametrize("given", TAKEN)
def test_a_plain_body_reads_as_the_full_path_reads_it(given: Any) -> None:
    read = one_flight(given)
    assert read is not None
    assert read == full_path(given)


@pytest.mark.parametrize("given", LEFT)
def test_any_other_body_is_left_to_the_full_path(given: Any) -> None:
    assert one_flight(given) is None
