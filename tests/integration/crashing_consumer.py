"""A real consumer process that is killed (SIGKILL, no cleanup) at a chosen point.

``python -m tests.integration.crashing_consumer group|ingest read|ack``, with the stream chosen by
the ``MLSYS_*`` environment like any mlsys process:

* ``group``: read the weather topic through the consumer group, then die before ``ack``.
* ``ingest``: run the weather ingestion into the warehouse and die right after the stream
  ``read`` (nothing committed) or just before the stream ``ack`` (warehouse committed).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import sys
from typing import Any

from mlsys_assets.resources.backends import build_event_stream
from mlsys_assets.resources.event_stream import EventStream, StreamEvent
from mlsys_assets.settings import get_settings

GROUP = "crash-test"
CONSUMER = "worker-1"
TOPIC = "weather"


def say(line: str) -> None:
    """Tell the parent test what happened (stdout, flushed before any kill)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class CrashingStream:
    """The real stream, with a kill switch between reading and acknowledging."""

    def __init__(self, inner: EventStream, at: str) -> None:
        self.inner, self.at = inner, at

    def read(self, topic: str, after: int, limit: int | None = None) -> list[StreamEvent]:
        events = self.inner.read(topic, after, limit)
        say(f"read {len(events)}")
        if self.at == "read":
            die()
        return events

    def ack(self, topic: str, group: str, offset: int) -> None:
        if self.at == "ack":
            die()
        self.inner.ack(topic, group, offset)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def main(mode: str, at: str) -> None:
    settings = get_settings()
    stream = build_event_stream(settings)
    if mode == "group":
        events = stream.read_group(TOPIC, GROUP, CONSUMER)
        say(f"read {len(events)}")
        die()
    from mlsys_assets.ingestion.weather import ingest_weather
    from mlsys_assets.resources.warehouse import Warehouse

    with Warehouse(path=str(settings.warehouse_path)).connect() as conn:
        ingest_weather(
            conn,
            CrashingStream(stream, at),  # type: ignore[arg-type]
            dt.date(2013, 1, 1),
            dt.date(2013, 1, 3),
            run_id="crashing",
        )
    say("not killed")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
