"""The file event stream hands an undecodable stored line over as a bad event, in its place."""

from __future__ import annotations

from pathlib import Path

from mlsys_assets.resources.event_stream import MAX_BAD_EXCERPT, FileEventStream


def test_bad_lines_come_back_as_bad_events_in_offset_order(tmp_path: Path) -> None:
    stream = FileEventStream(root=str(tmp_path))
    stream.append("t", [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}, {"n": 5}])
    (segment,) = (tmp_path / "t").glob("*.jsonl")
    lines = segment.read_bytes().split(b"\n")
    lines[1] = b"{not json"
    lines[2] = b"\xff\xfe" + b"x" * 5_000
    lines[3] = b"[1, 2]"
    segment.write_bytes(b"\n".join(lines))

    events = stream.read("t", after=0)
    assert [e.offset for e in events] == [1, 2, 3, 4, 5]
    assert [e.ok for e in events] == [True, False, False, False, True]
    assert [e.payload for e in events] == [{"n": 1}, {}, {}, {}, {"n": 5}]
    assert "not JSON" in events[1].error and events[1].raw == "{not json"
    assert "not UTF-8" in events[2].error and len(events[2].raw) < MAX_BAD_EXCERPT + 50
    assert "not an object" in events[3].error
    assert [e.offset for e in stream.read("t", after=1, limit=2)] == [2, 3]
