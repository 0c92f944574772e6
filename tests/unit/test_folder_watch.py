"""An idle reader of files is woken by a change, not by its next poll (inotify), and the file
event stream wakes a watcher of a topic on every append to it, never on an acknowledgement."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from mlsys_assets.resources.event_stream import FileEventStream
from mlsys_assets.resources.folder_watch import FolderWatch

pytestmark = pytest.mark.skipif(not FolderWatch([Path("/")]).notified, reason="no inotify")


def _timed_wait(watch: FolderWatch, timeout: float) -> tuple[bool, float]:
    started = time.perf_counter()
    woken = watch.wait(timeout)
    return woken, time.perf_counter() - started


def test_a_write_wakes_the_watcher_at_once(tmp_path: Path) -> None:
    with FolderWatch([tmp_path]) as watch:
        threading.Timer(0.05, (tmp_path / "segment").write_text, args=("x",)).start()
        woken, waited = _timed_wait(watch, 10.0)
    assert woken and waited < 2.0


def test_a_change_before_the_wait_is_not_slept_through(tmp_path: Path) -> None:
    with FolderWatch([tmp_path]) as watch:
        (tmp_path / "segment").write_text("x")  # after the reader looked, before it waits
        assert _timed_wait(watch, 10.0)[0]
        woken, waited = _timed_wait(watch, 0.1)  # consumed: a quiet folder sleeps the timeout
    assert not woken and waited >= 0.09


def test_without_folders_it_only_sleeps() -> None:
    watch = FolderWatch(())
    assert not watch.notified
    woken, waited = _timed_wait(watch, 0.05)
    assert not woken and waited >= 0.04


def test_the_file_stream_wakes_on_an_append_not_on_an_ack(tmp_path: Path) -> None:
    stream = FileEventStream(root=str(tmp_path))
    stream.append("schedule", [{"n": 1}])
    stream.ack("schedule", "g", 1)  # the group's first ack makes its folder: a wake, once
    with stream.watch(["weather", "schedule"]) as watch:
        stream.append("schedule", [{"n": 2}])
        assert watch.wait(10.0)
        stream.ack("schedule", "g", 2)  # a consumer's own ack must not wake it again
        stream.append("departures", [{"n": 1}])  # nor a topic it does not read
        assert not watch.wait(0.1)


def test_wake_ends_a_wait_at_once(tmp_path: Path) -> None:
    for watch in (FolderWatch([tmp_path]), FolderWatch(())):  # told by the kernel, or sleeping
        with watch:
            threading.Timer(0.05, watch.wake).start()
            woken, waited = _timed_wait(watch, 10.0)
        assert woken and waited < 2.0


def test_a_producer_is_woken_by_its_consumers_acks(tmp_path: Path) -> None:
    stream = FileEventStream(root=str(tmp_path))
    stream.append("schedule", [{"n": 1}])
    with stream.watch_acks(["schedule"]) as watch:
        threading.Timer(0.05, stream.ack, args=("schedule", "g", 1)).start()
        woken, waited = _timed_wait(watch, 10.0)
    assert woken and waited < 2.0
