"""Freshness of the online store: how long an event takes from its producer to being visible
online, per source, over a sliding window of recent events.

The producer stamps each event with ``emitted_at`` (wall clock, naive UTC) when it appends it;
the processor takes the time after the store transaction that made the event's values visible
committed. The window's p50/p99 go into the online store's state (``freshness:<topic>``), where
serving's ``/metrics`` and the monitoring assets read them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import deque
from collections.abc import Sequence

import numpy as np

from mlsys_assets.resources.event_stream import StreamEvent

WINDOW = 10_000  # most recent events per source
STATE_PREFIX = "freshness:"


class Freshness:
    def __init__(self, window: int = WINDOW) -> None:
        self._lags: dict[str, deque[float]] = {}
        self._window = window
        self.events: dict[str, int] = {}

    def record(self, topic: str, events: Sequence[StreamEvent], visible: dt.datetime) -> None:
        """Lags (ms) of events made visible at ``visible``; events without a stamp are skipped."""
        lags = self._lags.setdefault(topic, deque(maxlen=self._window))
        for event in events:
            emitted = event.payload.get("emitted_at")
            if not isinstance(emitted, str):
                continue
            try:
                at = dt.datetime.fromisoformat(emitted)
            except ValueError:
                continue
            lags.append((visible - at).total_seconds() * 1000.0)
        self.events[topic] = self.events.get(topic, 0) + len(events)

    def summary(self, topic: str) -> dict[str, float | int] | None:
        lags = self._lags.get(topic)
        if not lags:
            return None
        values = np.fromiter(lags, dtype=float)
        return {
            "p50_ms": round(float(np.percentile(values, 50)), 3),
            "p99_ms": round(float(np.percentile(values, 99)), 3),
            "max_ms": round(float(values.max()), 3),
            "window": len(values),
            "events": self.events.get(topic, 0),
        }

    def state(self, updated_at: dt.datetime) -> dict[str, str | None]:
        """Online-store state entries, one per source seen."""
        out: dict[str, str | None] = {}
        for topic in self._lags:
            summary = self.summary(topic)
            if summary is not None:
                summary_json = {**summary, "updated_at": updated_at.isoformat()}
                out[STATE_PREFIX + topic] = json.dumps(summary_json)
        return out


def read_freshness(state: dict[str, str]) -> dict[str, dict]:
    """``{topic: {p50_ms, p99_ms, ...}}`` from an online store's state."""
    return {
        name.removeprefix(STATE_PREFIX): json.loads(value)
        for name, value in state.items()
        if name.startswith(STATE_PREFIX)
    }
