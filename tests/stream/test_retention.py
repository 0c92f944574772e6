"""The stream processor trims the topics it reads: what every consumer acknowledged goes, except
the newest events a restart re-reads; a consumer that has not read yet holds everything."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from mlsys_assets.ingestion.weather import CONSUMER
from mlsys_assets.replay.publish import replay
from mlsys_assets.resources.event_stream import FileEventStream
from mlsys_assets.resources.online_store import SQLiteOnlineStore
from mlsys_assets.settings import Settings
from mlsys_assets.stream.processor import CONTEXT_EVENTS, Retention, StreamProcessor
from tests.features.conftest import END


@pytest.fixture(scope="module")
def drained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three weeks of January replayed (about 20,000 departure and 1,500 weather events) and
    processed once: the events folder and the online store beside it."""
    settings = Settings(home=tmp_path_factory.mktemp("retention"))
    replay(settings, END)
    folder = settings.landing_dir / "events"
    StreamProcessor(FileEventStream(root=str(folder)), _store(folder.parent)).drain()
    return folder


@pytest.fixture
def stream(drained: Path, tmp_path: Path) -> FileEventStream:
    """A copy of the drained topics (each test trims its own)."""
    shutil.copytree(drained, tmp_path / "events")
    shutil.copy(drained.parent / "online.sqlite", tmp_path / "online.sqlite")
    return FileEventStream(root=str(tmp_path / "events"))


def _store(folder: Path) -> SQLiteOnlineStore:
    return SQLiteOnlineStore(path=str(folder / "online.sqlite"))


INGESTED = {"weather": [CONSUMER], "departures": [CONSUMER]}  # the settings' default groups


def _processor(
    stream: FileEventStream, folder: Path, every_seconds: float = 60.0
) -> StreamProcessor:
    retention = Retention(INGESTED, keep=0, every_seconds=every_seconds)
    return StreamProcessor(stream, _store(folder), retention=retention)


def test_events_go_once_ingestion_and_the_processor_acknowledged_them(
    stream: FileEventStream, tmp_path: Path
) -> None:
    processor = _processor(stream, tmp_path)
    assert processor.drain() == 0  # the copy's group has acknowledged everything
    last = {source.topic: stream.last_offset(source.topic) for source in processor.sources}
    first = processor.trim()
    assert first["weather"] == first["departures"] == 0  # ingestion has not read them: all stay
    assert first["schedule"] > 10_000  # the processor is its only consumer
    del last["schedule"]
    source = next(s for s in processor.sources if s.topic == "departures")
    context = processor._rebuild_context(source)

    for topic, offset in last.items():
        stream.ack(topic, CONSUMER, offset)
    removed = processor.trim()

    for topic, offset in last.items():
        first = stream.read(topic, after=0)[0].offset
        assert removed[topic] == first - 1
        # whole segments go: the newest CONTEXT_EVENTS acknowledged (and a segment's rest) stay
        assert first <= max(offset - CONTEXT_EVENTS + 1, 1)
        assert processor.stats[topic].trimmed == removed[topic]
    assert removed["departures"] > 10_000
    # A restart re-reads the same context from what is left, and has nothing to do again.
    again = _processor(stream, tmp_path)
    assert again._rebuild_context(source).equals(context)
    assert again.drain() == 0


def test_the_running_processor_trims_on_its_own(stream: FileEventStream, tmp_path: Path) -> None:
    processor = _processor(stream, tmp_path, every_seconds=0.05)
    stream.ack("departures", CONSUMER, stream.last_offset("departures"))
    stop = threading.Event()
    runner = threading.Thread(target=processor.run, args=(stop, 0.01))
    runner.start()
    try:
        for _ in range(200):
            if "departures" in processor.stats and processor.stats["departures"].trimmed:
                break
            stop.wait(0.05)
    finally:
        stop.set()
        runner.join(timeout=30)
    assert processor.stats["departures"].trimmed > 10_000
    assert processor.stats["weather"].trimmed == 0  # ingestion has not read the weather yet


def test_no_retention_keeps_everything(stream: FileEventStream, tmp_path: Path) -> None:
    processor = StreamProcessor(stream, _store(tmp_path))
    stream.ack("departures", CONSUMER, stream.last_offset("departures"))
    assert processor.trim() == {}
    assert stream.read("departures", after=0)[0].offset == 1


def test_the_settings_switch_it_off_and_name_the_groups() -> None:
    default = Retention.from_settings(Settings().features)
    assert default == Retention(INGESTED, 20_000, 60.0)  # ingestion's groups
    settings = Settings(features={"stream_retention": False})
    assert Retention.from_settings(settings.features) is None
    named = Settings(
        features={"stream_retention_groups": {"schedule": ["a", "b"]}, "stream_keep_events": 7}
    )
    assert Retention.from_settings(named.features) == Retention({"schedule": ["a", "b"]}, 7, 60.0)
