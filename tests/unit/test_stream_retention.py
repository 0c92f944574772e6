"""The file event stream's retention: acknowledged segments go, readers and writers carry on."""

from __future__ import annotations

from pathlib import Path

from mlsys_assets.resources.event_stream import FileEventStream


def _segments(root: Path, topic: str) -> list[str]:
    return sorted(p.name for p in (root / topic).glob("*.jsonl"))


def test_a_reader_that_indexed_before_a_trim_reads_what_is_left(tmp_path: Path) -> None:
    writer, reader = FileEventStream(root=str(tmp_path)), FileEventStream(root=str(tmp_path))
    for start in range(0, 9, 3):
        writer.append("t", [{"n": n} for n in range(start, start + 3)])
    assert len(reader.read("t", after=0)) == 9
    writer.ack("t", "g", 6)
    assert writer.trim_acked("t") == 6
    assert _segments(tmp_path, "t") == ["000000000007-000000000009.jsonl"]
    assert [e.offset for e in reader.read("t", after=0)] == [7, 8, 9]
    assert [e.offset for e in reader.read("t", after=7)] == [8, 9]


def test_the_newest_segment_stays_so_offsets_continue(tmp_path: Path) -> None:
    stream = FileEventStream(root=str(tmp_path))
    stream.append("t", [{"n": 1}, {"n": 2}])
    stream.ack("t", "g", 2)
    assert stream.trim_acked("t") == 0  # all acknowledged, but it holds the last offset
    assert stream.append("t", [{"n": 3}]) == [3]
