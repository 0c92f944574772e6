"""Events are stored as compact JSON whatever values a producer hands over."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mlsys_assets.resources.event_stream import FileEventStream, encode_event


def test_an_event_is_compact_json_that_reads_back_equal() -> None:
    event = {"request_id": "r-1", "p": 0.25, "delayed": False, "rules": [], "city": "Zürich"}
    text = encode_event(event)
    assert " " not in text.replace("Zürich", "")
    assert json.loads(text) == event


def test_numpy_values_nan_and_huge_integers_are_still_json() -> None:
    assert json.loads(encode_event({"n": np.int64(3), "p": np.float32(0.5)})) == {"n": 3, "p": 0.5}
    assert json.loads(encode_event({"p": float("nan")})) == {"p": None}
    assert json.loads(encode_event({"n": 2**70})) == {"n": 2**70}  # past orjson's 64 bits


def test_a_large_append_keeps_every_event_in_offset_order(tmp_path: Path) -> None:
    stream = FileEventStream(root=str(tmp_path))
    stream.append("t", [{"n": i} for i in range(1_000)])  # several hand-overs of the GIL
    events = stream.read("t", after=0)
    assert [e.offset for e in events] == list(range(1, 1_001))
    assert [e.payload["n"] for e in events] == list(range(1_000))
