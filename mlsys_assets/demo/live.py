"""The demo's live world: one simulated day at a time, in event time.

Within a day, the clock moves from one prediction time to the next. At each one, what became
available strictly before it is published first (weather of the hours that ended, the schedule
a day ahead), the stream processor is given the moment to make it visible online, and then the
flights asked about at that moment go to ``/predict`` (serving reads the same clock, so it looks
their features up as of that moment). When the day ends its outcome file lands, the flights'
outcomes go to ``/feedback``, and the day's Dagster pipeline run (launched by the
``new_landing_data`` sensor) computes the day's statistics before the next morning's first
request: the nightly batch a real airline would have.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from mlsys_assets.clock import day_end_utc
from mlsys_assets.demo.traffic import Schedule, TrafficStats, post_all
from mlsys_assets.replay.publish import Replayer
from mlsys_assets.resources.event_stream import EventStream
from mlsys_assets.stream.processor import GROUP
from mlsys_assets.stream.sources import SOURCES


@dataclass
class LiveDay:
    """What one live day did."""

    day: dt.date
    requests: int
    moments: int
    stream_waits: int
    seconds: float  # wall time of the day's traffic and publishing (not the nightly run)


def stream_caught_up(stream: EventStream, group: str = GROUP) -> Callable[[], bool | None]:
    """A probe: has the stream processor acknowledged every event published so far?"""
    topics = [s.topic for s in SOURCES]

    def probe() -> bool | None:
        ok = all(stream.acked(t, group) >= stream.last_offset(t) for t in topics)
        return True if ok else None

    return probe


def play_day(
    day: dt.date,
    *,
    replayer: Replayer,
    schedule: Schedule,
    client: httpx.Client,
    stats: TrafficStats,
    wait_for_stream: Callable[[], None],
    explain_every: int = 10,
) -> LiveDay:
    """Ask about every flight whose prediction time falls on ``day``, each at its moment (every
    ``explain_every``-th with ``explain=true``), then end the day (outcome file, feedback). The
    caller waits for the day's pipeline run."""
    started = time.perf_counter()
    moments = schedule.asked_on(day)
    waits = requests = 0
    for moment, bodies in moments:
        published = replayer.advance(moment, inclusive=False)
        if published.stream_events:
            wait_for_stream()
            waits += 1
        asked: list[dict[str, object]] = []
        explained: list[dict[str, object]] = []
        for i, body in enumerate(bodies):
            (explained if (requests + i) % explain_every == 0 else asked).append(body)
        post_all(client, "/predict", asked, stats)
        post_all(client, "/predict?explain=true", explained, stats)
        requests += len(bodies)
    ended = replayer.advance(day_end_utc(day), inclusive=True)
    if ended.stream_events:
        wait_for_stream()
        waits += 1
    post_all(client, "/feedback", schedule.outcomes([day]), stats)
    return LiveDay(day, requests, len(moments), waits, time.perf_counter() - started)
