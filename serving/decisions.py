"""The outbound ``decisions`` stream: every answered decision, for downstream systems to follow.

Each answer becomes one event on topic ``decisions`` of the event stream (the file log embedded,
Redis Streams in production), keyed by its request id (``idempotency_key``): a downstream
consumer reads through its consumer group, applies each decision keyed by it and acks, so a
consumer that crashes and is redelivered what it had not acked ends with every decision once.

The request path only queues the answers (a list append); a thread appends what is queued to the
stream every ``FLUSH_SECONDS`` in one ``append`` (one segment file, one Redis round trip). A
stream that is down costs no request: past ``max_pending`` queued decisions new ones are dropped
and counted (``mlsys_decisions_dropped``), like the prediction log's buffer. A crash loses what
was queued in the last flush interval, as the prediction log's write-ahead window does.

Retention: every ``TRIM_SECONDS`` the thread removes what every consumer group of the topic has
acknowledged, those of ``MLSYS_SERVING__DECISIONS_GROUPS`` included even before they first read
(``EventStream.trim_acked``): a flush is a segment file on the file stream, four a
second under load, and without it the topic grew by about 1,300 files (300 MB) in 15 minutes of
a benchmark. Nothing a group has not acknowledged goes, and a topic with no consumer group
keeps everything.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from mlsys_assets.clock import utc_now
from mlsys_assets.gil import STEP, step_aside
from mlsys_assets.resources.event_stream import EventStream

logger = logging.getLogger(__name__)

TOPIC = "decisions"
FLUSH_SECONDS = 0.25
TRIM_SECONDS = 60.0
MAX_PENDING = 100_000
BATCH = 5_000  # events per append


class DecisionPublisher:
    """Queues answers and publishes them on the ``decisions`` topic from a thread."""

    def __init__(
        self,
        stream: EventStream,
        *,
        on_published: Callable[[int], None] = lambda n: None,
        on_dropped: Callable[[int], None] = lambda n: None,
        max_pending: int = MAX_PENDING,
        flush_seconds: float = FLUSH_SECONDS,
        trim_seconds: float = TRIM_SECONDS,
        groups: Sequence[str] = (),
    ) -> None:
        self.stream = stream
        self.max_pending = max_pending
        self.flush_seconds = flush_seconds
        self.trim_seconds = trim_seconds
        self.groups = tuple(groups)  # the consumers the operator expects (settings)
        self._on_published = on_published
        self._on_dropped = on_dropped
        self._queue: list[tuple[Any, list[dict[str, Any]], str, dt.datetime, dt.datetime]] = []
        self._pending = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="decisions", daemon=True)
        self._thread.start()

    def publish(
        self, scored: Any, flights: list[dict[str, Any]], endpoint: str, now: dt.datetime
    ) -> None:
        """Queue one call's answers (a ``Scored``); the thread builds and sends the events."""
        count = len(scored)
        with self._lock:
            if self._pending + count > self.max_pending:
                dropped = True
            else:
                dropped = False
                self._queue.append((scored, flights, endpoint, now, utc_now()))
                self._pending += count
        if dropped:
            self._on_dropped(count)

    def flush(self) -> int:
        """Publish everything queued now; returns how many events were appended."""
        with self._lock:
            queued, self._queue = self._queue, []
            self._pending = 0
        events: list[dict[str, Any]] = []
        for item in queued:
            before = len(events)
            events += _events(*item)
            if before // STEP != len(events) // STEP:
                step_aside()  # requests wait on this GIL: hand it over every STEP events
        sent = 0
        for start in range(0, len(events), BATCH):
            chunk = events[start : start + BATCH]
            try:
                self.stream.append(TOPIC, chunk)
            except Exception:  # noqa: BLE001 - the stream is down: these are lost, and counted
                logger.exception("publishing %d decisions failed", len(chunk))
                self._on_dropped(len(chunk))
                continue
            sent += len(chunk)
        if sent:
            self._on_published(sent)
        return sent

    def close(self) -> None:
        """Stop the thread and publish what is left (a graceful stop loses none)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.flush()

    def trim(self) -> int:
        """Remove the decisions every consumer group has acknowledged; returns how many."""
        return self.stream.trim_acked(TOPIC, self.groups)

    def _run(self) -> None:
        trimmed_at = time.monotonic()
        while not self._stop.wait(self.flush_seconds):
            try:
                self.flush()
                if time.monotonic() - trimmed_at >= self.trim_seconds:
                    trimmed_at = time.monotonic()
                    self.trim()
            except Exception:  # noqa: BLE001 - the publisher must outlive any one failure
                logger.exception("decisions publisher failed")


def _events(
    scored: Any,
    flights: Sequence[dict[str, Any]],
    endpoint: str,
    requested_at: dt.datetime,
    decided_at: dt.datetime,
) -> list[dict[str, Any]]:
    requested = requested_at.isoformat()
    decided = decided_at.isoformat()
    return [
        {
            "idempotency_key": scored.request_id[i],
            "request_id": scored.request_id[i],
            "decided_at": decided,  # wall clock, naive UTC
            "requested_at": requested,  # the request's moment (the replay clock)
            "endpoint": endpoint,
            "carrier": flight["carrier"],
            "flight": flight["flight"],
            "origin": flight["origin"],
            "dest": flight["dest"],
            "scheduled_departure": flight["scheduled_departure"].isoformat(),
            "delay_probability": scored.delay_probability[i],
            "delayed": scored.delayed[i],
            "model_name": scored.model_name,
            "model_version": scored.model_version[i],
            "variant": scored.variant[i],
            "rule": scored.rule[i],
        }
        for i, flight in enumerate(flights)
    ]


def lag(stream: EventStream, groups: Sequence[str]) -> dict[str, int]:
    """Events on ``decisions`` each consumer group has not acknowledged yet."""
    last = stream.last_offset(TOPIC)
    return {group: max(last - stream.acked(TOPIC, group), 0) for group in groups}
