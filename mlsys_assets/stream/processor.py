"""The stream processor: consumes the event stream and keeps the online store current.

For each topic (``sources.SOURCES``) it reads what its consumer group has not acknowledged
(``EventStream.read_group``: the file log's committed cursor, or a Redis Streams consumer group,
where more consumers share the work), turns the events into raw rows, computes the views they
feed by the feature layer's own SQL, writes the rows to the online store in one transaction, and
only then acknowledges the events. A crash between the write and the acknowledgement delivers
the events again, and writing them again changes nothing: the store keeps the newest event per
key, so the processor and the daily runs' materialization never fight (an older value never
overwrites a newer one).

Raw rows and the warehouse stay with ingestion: the daily Dagster runs consume the same topics
with their own cursor for the offline store, the daily statistics and backfills.

Retention (``Retention``): the processor is the one consumer that is always running, so it also
trims the topics it reads, every ``every_seconds``: what its own group and the other groups named
for the topic (ingestion's, on weather and departures) have acknowledged goes, except the newest
``keep`` of those events. Without it the topics only grew: a year is ~336,000 scheduled flights
and as many departures (a Redis stream in memory, or a segment file per replayed moment on the
file log). Ingestion buffers what it reads in the warehouse (backfills rebuild from that buffer,
not from the stream), and a named group that has never acknowledged holds everything back, so
nothing a consumer still needs goes.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import pandas as pd

from mlsys_assets.clock import utc_now
from mlsys_assets.features.catalog import INTRADAY_VIEWS
from mlsys_assets.features.streaming import StreamViewComputer
from mlsys_assets.resources.event_stream import EventStream, StreamEvent
from mlsys_assets.resources.folder_watch import FolderWatch
from mlsys_assets.resources.online_store import OnlineRow, OnlineStore
from mlsys_assets.stream.day_state import DayState
from mlsys_assets.stream.freshness import Freshness
from mlsys_assets.stream.sources import SOURCES, StreamSource

logger = logging.getLogger(__name__)

GROUP = "mlsys-stream"
CONTEXT_EVENTS = 2_000  # events re-read on start to rebuild a source's context (one day's schedule)
STATE_EVERY_SECONDS = 1.0  # how often freshness is written to the store's state


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection inside a batch. A batch allocates a few hundred thousand
    short-lived objects (decoded events, rows, day tables) that reference counting frees; left
    on, the collector keeps scanning the day state for cycles, a third of a catch-up's CPU."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass
class TopicStats:
    events: int = 0
    rejected: int = 0
    rows: int = 0
    batches: int = 0
    offset: int = 0
    trimmed: int = 0  # events removed by retention


@dataclass(frozen=True)
class Retention:
    """Which acknowledgements an event must have before it goes, and how many to keep (the
    defaults are the settings': ``FeatureSettings.stream_*``)."""

    # per topic, the groups besides the processor's own whose acknowledgement an event needs
    groups: Mapping[str, Sequence[str]]
    keep: int  # raised to CONTEXT_EVENTS if below: a restart re-reads that many
    every_seconds: float

    @classmethod
    def from_settings(cls, features) -> Retention | None:  # noqa: ANN001 - FeatureSettings
        if not features.stream_retention:
            return None
        return cls(
            features.stream_retention_groups,
            features.stream_keep_events,
            features.stream_trim_seconds,
        )


@dataclass
class StreamProcessor:
    stream: EventStream
    store: OnlineStore
    sources: Sequence[StreamSource] = SOURCES
    group: str = GROUP
    consumer: str = "stream-1"
    batch_events: int = 5_000
    freshness: Freshness = field(default_factory=Freshness)
    stats: dict[str, TopicStats] = field(default_factory=dict)
    retention: Retention | None = None  # None: the topics keep everything

    def __post_init__(self) -> None:
        self._computer = StreamViewComputer()
        self.day_state = DayState(self.store, INTRADAY_VIEWS)
        self._context: dict[str, pd.DataFrame] = {}
        self._state_written = 0.0
        self._trimmed_at = time.monotonic()
        self._watch: FolderWatch | None = None
        for source in self.sources:  # imports and contracts now, not on the first live event
            source.to_raw([])

    # ------------------------------------------------------------------------------ polling
    def poll(self) -> int:
        """Process one batch per topic (what is waiting, up to ``batch_events``); events seen."""
        seen = 0
        for source in self.sources:
            with _collector_paused():
                events = self.stream.read_group(
                    source.topic, self.group, self.consumer, limit=self.batch_events
                )
                if events:
                    self._process(source, events)
            seen += len(events)
        if seen and time.monotonic() - self._state_written >= STATE_EVERY_SECONDS:
            self.write_state()
        return seen

    def drain(self) -> int:
        """Poll until nothing is waiting; the number of events processed."""
        total = 0
        while True:
            seen = self.poll()
            total += seen
            if not seen:
                self.write_state()
                return total

    def run(self, stop: threading.Event, poll_seconds: float = 0.05) -> None:
        """Poll until ``stop`` is set. Whenever nothing was waiting, wait for the stream to say
        an event landed (the file stream: at once, by inotify), at most ``poll_seconds`` (Redis
        says nothing: a poll every ``poll_seconds``). Whoever sets ``stop`` calls ``wake``, or
        the stop is seen after that wait."""
        with self.stream.watch([source.topic for source in self.sources]) as watch:
            self._watch = watch
            try:
                self._run(stop, watch, poll_seconds)
            finally:
                self._watch = None
        self.write_state()

    def wake(self) -> None:
        """End the idle wait of ``run`` at once (after setting its ``stop``; signal-safe)."""
        watch = self._watch
        if watch is not None:
            watch.wake()

    def _run(self, stop: threading.Event, watch: FolderWatch, poll_seconds: float) -> None:
        while not stop.is_set():
            try:
                seen = self.poll()
            except Exception:  # noqa: BLE001 - a failing store or stream: retry, never exit
                logger.exception("stream processor: batch failed; retrying")
                stop.wait(1.0)
                continue
            if (
                self.retention
                and time.monotonic() - self._trimmed_at >= self.retention.every_seconds
            ):
                self._trimmed_at = time.monotonic()
                try:
                    self.trim()
                except Exception:  # noqa: BLE001 - retention waits for the next round
                    logger.exception("stream processor: trimming failed")
            if not seen and not stop.is_set():
                watch.wait(poll_seconds)

    def trim(self) -> dict[str, int]:
        """Apply the retention to every topic read; events removed per topic."""
        if self.retention is None:
            return {}
        keep = max(self.retention.keep, CONTEXT_EVENTS)
        removed = {}
        for source in self.sources:
            groups = (self.group, *self.retention.groups.get(source.topic, ()))
            removed[source.topic] = self.stream.trim_acked(source.topic, groups, keep=keep)
            self.stats.setdefault(source.topic, TopicStats()).trimmed += removed[source.topic]
        if any(removed.values()):
            logger.info("stream retention removed %s", removed)
        return removed

    def caught_up(self) -> bool:
        """Every topic's group has acknowledged the newest event (what the demo waits for)."""
        return all(
            self.stream.acked(s.topic, self.group) >= self.stream.last_offset(s.topic)
            for s in self.sources
        )

    def write_state(self) -> None:
        state = self.freshness.state(utc_now())
        if state:
            self.store.write_batch([], state)
        self._state_written = time.monotonic()

    def close(self) -> None:
        self._computer.close()

    # ------------------------------------------------------------------------------ a batch
    def _process(self, source: StreamSource, events: list[StreamEvent]) -> None:
        stats = self.stats.setdefault(source.topic, TopicStats())
        good = [e for e in events if e.ok]  # an undecodable event is ingestion's to quarantine
        batch = source.to_raw(good)
        rows = self._rows(source, batch.rows, batch.days) if batch.days and source.views else []
        if source.day_state and len(batch.rows):
            self.day_state.apply(batch.rows, batch.rows["published_us"].tolist())
            rows += self.day_state.rows()
        last = events[-1].offset
        self.store.write_batch(rows, {f"stream:{source.topic}:offset": str(last)})
        self.freshness.record(source.topic, events, utc_now())
        self.stream.ack(source.topic, self.group, last)
        stats.events += len(events)
        stats.rejected += batch.rejected + len(events) - len(good)
        stats.rows += len(rows)
        stats.batches += 1
        stats.offset = last

    def _rows(
        self, source: StreamSource, arrived: pd.DataFrame, days: tuple[dt.date, ...]
    ) -> list[OnlineRow]:
        raw = arrived
        if source.keep_days:
            context = self._context.get(source.topic)
            if context is None:
                context = self._context[source.topic] = self._rebuild_context(source)
            raw = pd.concat([context, arrived], ignore_index=True) if len(context) else arrived
            first_kept = max(days) - dt.timedelta(days=source.keep_days - 1)
            self._context[source.topic] = raw[raw[source.day_column] >= first_kept]
        rows: list[OnlineRow] = []
        for view in source.views:
            rows += self._computer.rows(view, {source.raw_table: raw}, min(days), max(days))
        return rows

    def _rebuild_context(self, source: StreamSource) -> pd.DataFrame:
        """The rows of the last acknowledged events (a restart must not forget the day before)."""
        acked = self.stream.acked(source.topic, self.group)
        if not acked:
            return pd.DataFrame()
        events = self.stream.read(source.topic, after=max(0, acked - CONTEXT_EVENTS))
        events = [e for e in events if e.offset <= acked and e.ok]
        batch = source.to_raw(events)
        if not batch.days:
            return pd.DataFrame()
        first_kept = max(batch.days) - dt.timedelta(days=source.keep_days - 1)
        return batch.rows[batch.rows[source.day_column] >= first_kept]
