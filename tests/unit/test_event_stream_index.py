"""The file event stream's segment index: the folder is listed once, never again while the
index describes it, and whatever a killed writer, a hand or an older version left in the folder
is read and repaired.

Killed writers and concurrent producers are real processes (``os.fork``: the child shares the
imported code, so it starts in milliseconds). A child stops at one step of the appender protocol
because the test swaps that step, in the child only, for a function that SIGKILLs the child.
"""

from __future__ import annotations

import os
import select
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mlsys_assets.resources import event_stream, segment_index
from mlsys_assets.resources.event_stream import FileEventStream
from mlsys_assets.resources.segment_index import SegmentIndex, segment_name

TOPIC = "t"


def _die(*_args: object, **_kwargs: object) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _in_child(body: Callable[[], None]) -> int:
    """Fork, run ``body`` in the child, exit it with 0 (or 1 on an exception); the child's pid."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            body()
            code = 0
        finally:
            os._exit(code)
    return pid


def _wait(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _offsets(stream: FileEventStream) -> list[int]:
    return [event.offset for event in stream.read(TOPIC, after=0)]


def _write_segment(folder: Path, first: int, payloads: list[dict]) -> None:
    """A segment as a hand (or the code from before the index) writes it: no index record."""
    lines = [f'{{"offset":{first + i},"n":{p["n"]}}}' for i, p in enumerate(payloads)]
    (folder / segment_name(first, first + len(payloads) - 1)).write_text("\n".join(lines) + "\n")


def _assert_index_describes_folder(folder: Path) -> None:
    """The committed records are exactly the segments in the folder, and nothing is left over."""
    listed = sorted(p.name for p in folder.iterdir() if segment_index.SEGMENT.match(p.name))
    tail = SegmentIndex(folder).snapshot()
    assert tail is not None, "the tail does not describe the folder"
    records = (folder / "_index" / "segments").read_bytes()
    assert len(records) == tail.count * segment_index.RECORD
    indexed = [
        segment_name(int(records[at : at + 12]), int(records[at + 13 : at + 25]))
        for at in range(0, len(records), segment_index.RECORD)
    ]
    assert indexed == listed
    assert [p.name for p in folder.iterdir() if p.name.endswith(".tmp")] == []


@pytest.fixture
def listings(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every folder listing made from here on, whichever way it is asked for."""
    calls: list[str] = []

    def counting(name: str, real: Callable) -> Callable:
        def listing(*args: object, **kwargs: object) -> object:
            calls.append(name)
            return real(*args, **kwargs)

        return listing

    monkeypatch.setattr(os, "scandir", counting("scandir", os.scandir))
    monkeypatch.setattr(os, "listdir", counting("listdir", os.listdir))
    monkeypatch.setattr(Path, "iterdir", counting("iterdir", Path.iterdir))
    monkeypatch.setattr(Path, "glob", counting("glob", Path.glob))
    yield calls


def test_no_folder_listing_once_the_topic_is_indexed(tmp_path: Path, listings: list[str]) -> None:
    stream = FileEventStream(root=str(tmp_path))
    stream.append(TOPIC, [{"n": 0}])
    indexing = len(listings)
    assert listings == ["scandir", "scandir"]  # the new topic, indexed: its folder and _index/

    for n in range(1, 30):
        before = stream.last_offset(TOPIC)
        assert stream.append(TOPIC, [{"n": n}, {"n": n}]) == [before + 1, before + 2]
        assert [e.offset for e in stream.read(TOPIC, after=before)] == [before + 1, before + 2]
        assert [e.offset for e in stream.read(TOPIC, after=before - 1, limit=1)] == [before]
    stream.ack(TOPIC, "g", 5)  # creates _acks/ in the topic folder: one more listing
    assert [e.offset for e in stream.read_group(TOPIC, "g", "c", limit=2)] == [6, 7]
    assert [e.offset for e in FileEventStream(root=str(tmp_path)).read(TOPIC, 57)] == [58, 59]
    assert listings[indexing:] == ["scandir", "scandir"]  # the topic folder, then _index/
    assert _offsets(stream) == list(range(1, 60))


def test_a_read_from_any_offset_finds_its_segment(tmp_path: Path) -> None:
    """The search over the records, against every cursor a consumer may hold."""
    stream = FileEventStream(root=str(tmp_path))
    sizes = [1, 3, 1, 1, 5, 2, 1, 4, 1, 1, 1, 2, 7, 1, 3, 1, 1, 1]  # 18 segments, 36 events
    for size in sizes:
        stream.append(TOPIC, [{"n": 0}] * size)
    last = sum(sizes)
    for after in range(-1, last + 2):
        expected = list(range(max(after, 0) + 1, last + 1))
        assert [e.offset for e in stream.read(TOPIC, after=after)] == expected
        assert [e.offset for e in stream.read(TOPIC, after=after, limit=2)] == expected[:2]


def test_a_topic_from_before_the_index_is_read_and_indexed_on_first_use(
    tmp_path: Path, listings: list[str]
) -> None:
    folder = tmp_path / TOPIC
    folder.mkdir()
    for first in range(1, 31, 3):  # ten segments of three, as the code before the index wrote
        _write_segment(folder, first, [{"n": first + i} for i in range(3)])
    (folder / ".lock").touch()

    stream = FileEventStream(root=str(tmp_path))
    assert stream.last_offset(TOPIC) == 30
    assert [e.payload["n"] for e in stream.read(TOPIC, after=27)] == [28, 29, 30]
    assert stream.append(TOPIC, [{"n": 31}]) == [31]
    assert _offsets(stream) == list(range(1, 32))
    assert listings == ["scandir", "scandir"]  # once: the topic folder and _index/
    _assert_index_describes_folder(folder)


def test_a_segment_written_by_hand_right_after_an_append_is_read(tmp_path: Path) -> None:
    """Within one filesystem timestamp tick of the append: the folder's mtime must still tell."""
    stream = FileEventStream(root=str(tmp_path))
    stream.append(TOPIC, [{"n": 1}, {"n": 2}])
    _write_segment(tmp_path / TOPIC, 3, [{"n": 3}, {"n": 4}])

    assert stream.last_offset(TOPIC) == 4
    assert [e.payload["n"] for e in stream.read(TOPIC, after=1)] == [2, 3, 4]
    assert stream.append(TOPIC, [{"n": 5}]) == [5]
    _assert_index_describes_folder(tmp_path / TOPIC)


def test_an_index_that_lost_its_tail_or_records_is_rebuilt(tmp_path: Path) -> None:
    stream = FileEventStream(root=str(tmp_path))
    for n in range(1, 6):
        stream.append(TOPIC, [{"n": n}])
    index = tmp_path / TOPIC / "_index"
    records = (index / "segments").read_bytes()
    (index / "segments").write_bytes(records[: 2 * segment_index.RECORD])  # a power cut
    assert _offsets(stream) == [1, 2, 3, 4, 5]
    (index / "segments").write_bytes(records.replace(b" 000000000003", b" 0000000000x3"))
    assert _offsets(stream) == [1, 2, 3, 4, 5]
    (index / "segments").unlink()
    assert _offsets(stream) == [1, 2, 3, 4, 5]
    tail = (index / "tail").read_bytes()
    (index / "tail").write_bytes(tail[:20] + b"9" + tail[21:])  # the checksum fails
    assert stream.append(TOPIC, [{"n": 6}]) == [6]
    assert _offsets(stream) == [1, 2, 3, 4, 5, 6]
    _assert_index_describes_folder(tmp_path / TOPIC)


# Where the child dies: the step of ``FileEventStream.append`` it is stopped at, which object
# holds that step, and whether the event it was appending is in the stream afterwards (it is
# once its segment was renamed into place: the append happened, only its answer was lost).
KILL_POINTS = {
    "before the intent record": (SegmentIndex, "intend", False),
    "after the intent record, before the segment": (event_stream, "atomic_write_text", False),
    "segment written, not renamed": (os, "replace", False),
    "segment renamed, folder not stamped": (SegmentIndex, "commit", True),
    "folder stamped, tail not written": (SegmentIndex, "_write_tail", True),
}


@pytest.mark.parametrize("next_call", ["read", "append"])
@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_a_writer_killed_at_any_step_leaves_a_topic_the_next_call_repairs(
    tmp_path: Path, point: str, next_call: str
) -> None:
    stream = FileEventStream(root=str(tmp_path))
    assert stream.append(TOPIC, [{"n": 1}, {"n": 2}]) == [1, 2]
    assert stream.append(TOPIC, [{"n": 3}]) == [3]
    holder, step, kept = KILL_POINTS[point]

    def killed_append() -> None:
        setattr(holder, step, _die)  # in the child only
        FileEventStream(root=str(tmp_path)).append(TOPIC, [{"n": 4}])

    assert _wait(_in_child(killed_append)) == -signal.SIGKILL

    survivor = [1, 2, 3, 4] if kept else [1, 2, 3]
    if next_call == "read":
        assert _offsets(stream) == survivor
        assert stream.last_offset(TOPIC) == survivor[-1]
    after = stream.append(TOPIC, [{"n": 5}])
    assert after == [survivor[-1] + 1]
    events = stream.read(TOPIC, after=0)
    assert [e.offset for e in events] == [*survivor, survivor[-1] + 1]
    assert [e.payload["n"] for e in events] == [1, 2, 3, *([4] if kept else []), 5]
    assert all(e.ok for e in events)
    _assert_index_describes_folder(tmp_path / TOPIC)


def test_four_producer_processes_hand_out_every_offset_exactly_once(tmp_path: Path) -> None:
    producers, appends = 4, 20
    results = tmp_path / "offsets"
    results.mkdir()

    def produce(producer: int) -> Callable[[], None]:
        def body() -> None:
            stream = FileEventStream(root=str(tmp_path / "events"))
            got = []
            for i in range(appends):
                batch = [{"p": producer, "i": i, "k": k} for k in range(1 + (i + producer) % 3)]
                got.extend(stream.append(TOPIC, batch))
            (results / f"{producer}.txt").write_text(" ".join(map(str, got)))

        return body

    pids = [_in_child(produce(p)) for p in range(producers)]
    assert [_wait(pid) for pid in pids] == [0] * producers

    handed = sorted(
        int(x) for p in range(producers) for x in (results / f"{p}.txt").read_text().split()
    )
    events = FileEventStream(root=str(tmp_path / "events")).read(TOPIC, after=0)
    assert handed == [e.offset for e in events] == list(range(1, len(events) + 1))
    total = sum(1 + (i + p) % 3 for p in range(producers) for i in range(appends))
    assert len(events) == total
    assert len({(e.payload["p"], e.payload["i"], e.payload["k"]) for e in events}) == total
    _assert_index_describes_folder(tmp_path / "events" / TOPIC)


def test_a_reader_does_not_wait_for_a_writer_mid_append(tmp_path: Path) -> None:
    """The writer's temporary segment moved the folder's mtime; the reader reads as of the last
    commit instead of queueing on the lock behind the writer's fsync."""
    stream = FileEventStream(root=str(tmp_path))
    stream.append(TOPIC, [{"n": 1}])
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()

    def held_append() -> None:
        replace = os.replace

        def paused(*args: object) -> None:
            os.write(ready_w, b"x")
            select.select([go_r], [], [], 10)  # a reader that waits for the lock fails, not hangs
            replace(*args)

        os.replace = paused  # in the child only
        FileEventStream(root=str(tmp_path)).append(TOPIC, [{"n": 2}])

    pid = _in_child(held_append)
    try:
        assert os.read(ready_r, 1) == b"x"  # the child holds the lock, its segment not renamed
        index = SegmentIndex(tmp_path / TOPIC)
        assert not index.describes(index.committed())
        assert _offsets(stream) == [1]
        assert stream.last_offset(TOPIC) == 1
    finally:
        os.write(go_w, b"x")
        assert _wait(pid) == 0
    assert _offsets(stream) == [1, 2]
    _assert_index_describes_folder(tmp_path / TOPIC)
