"""An idle stream processor is woken by the events it reads, not by its next poll: what the
replay publishes is online within a moment although the processor polls twice a minute."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import pytest

from mlsys_assets.replay.publish import replay
from mlsys_assets.resources.event_stream import FileEventStream
from mlsys_assets.resources.folder_watch import FolderWatch
from mlsys_assets.resources.online_store import SQLiteOnlineStore
from mlsys_assets.settings import Settings
from mlsys_assets.stream.processor import StreamProcessor

POLL_SECONDS = 30.0


@pytest.mark.skipif(not FolderWatch([Path("/")]).notified, reason="no inotify")
def test_published_events_are_processed_long_before_the_next_poll(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "mlsys")
    stream = FileEventStream(root=str(settings.landing_dir / "events"))
    processor = StreamProcessor(stream, SQLiteOnlineStore(path=str(tmp_path / "online.sqlite")))
    stop = threading.Event()
    worker = threading.Thread(target=processor.run, args=(stop, POLL_SECONDS), daemon=True)
    worker.start()
    try:
        while processor._watch is None:  # noqa: SLF001 - not yet watching
            time.sleep(0.01)
        time.sleep(0.5)  # idle: it looked, found nothing and waits
        published = time.monotonic()
        summary = replay(settings, dt.date(2013, 1, 2), stream=stream)
        assert summary.stream_events > 0
        while not processor.caught_up():
            assert time.monotonic() - published < POLL_SECONDS / 3, "slept until a poll"
            time.sleep(0.01)
        time.sleep(1.0)  # idle again, waiting
    finally:
        stop.set()
        processor.wake()
        asked_to_stop = time.monotonic()
        worker.join(timeout=POLL_SECONDS + 5)
    assert not worker.is_alive()
    assert time.monotonic() - asked_to_stop < 2.0, "the stop waited for the next poll"
    assert sum(stats.events for stats in processor.stats.values()) == sum(
        stream.last_offset(source.topic) for source in processor.sources
    )
