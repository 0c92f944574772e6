"""The decisions publisher keeps its topic from growing without end: what consumers acknowledged
goes, every ``trim_seconds``."""

from __future__ import annotations

import time
from pathlib import Path

from mlsys_assets.resources.event_stream import FileEventStream
from serving.decisions import TOPIC, DecisionPublisher


def _segments(root: Path, topic: str) -> list[str]:
    return sorted(p.name for p in (root / topic).glob("*.jsonl"))


def test_the_decisions_publisher_trims_what_its_consumers_acknowledged(tmp_path: Path) -> None:
    stream = FileEventStream(root=str(tmp_path))
    for n in range(5):  # five flushes' worth of segments
        stream.append(TOPIC, [{"idempotency_key": f"r{n}"}])
    stream.ack(TOPIC, "downstream", 4)
    publisher = DecisionPublisher(stream, flush_seconds=0.05, trim_seconds=0.1)
    publisher.start()
    try:
        deadline = time.monotonic() + 10
        while len(_segments(tmp_path, TOPIC)) > 1 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        publisher.close()
    assert _segments(tmp_path, TOPIC) == ["000000000005-000000000005.jsonl"]


def test_an_expected_consumer_that_never_read_holds_everything_back(tmp_path: Path) -> None:
    stream = FileEventStream(root=str(tmp_path))
    for n in range(3):
        stream.append(TOPIC, [{"idempotency_key": f"r{n}"}])
    stream.ack(TOPIC, "audit", 3)  # another consumer is done with everything
    publisher = DecisionPublisher(stream, groups=["downstream"])  # not started yet
    assert publisher.trim() == 0
    assert len(_segments(tmp_path, TOPIC)) == 3
    stream.ack(TOPIC, "downstream", 2)
    assert publisher.trim() == 2
