"""Open Inference Protocol v2 request bodies for the world's flights (what a V2 client sends)."""

from __future__ import annotations

from typing import Any

TYPES = {"flight": "INT64", "distance": "FP64"}


def infer_body(
    flights: list[dict[str, Any]], request_id: str = "", **parameters: Any
) -> dict[str, Any]:
    """One tensor per field, shape [N]; a missing tail number is an empty string."""
    names = ["carrier", "flight", "tailnum", "origin", "dest", "scheduled_departure", "distance"]
    if any("request_id" in f for f in flights):
        names.append("request_id")
    inputs = [
        {
            "name": name,
            "datatype": TYPES.get(name, "BYTES"),
            "shape": [len(flights)],
            "data": [f.get(name) or "" if name not in TYPES else f[name] for f in flights],
        }
        for name in names
    ]
    body: dict[str, Any] = {"inputs": inputs}
    if request_id:
        body["id"] = request_id
    if parameters:
        body["parameters"] = parameters
    return body


def outputs(answer: dict[str, Any]) -> dict[str, list[Any]]:
    """A V2 answer's outputs by name."""
    return {output["name"]: output["data"] for output in answer["outputs"]}
