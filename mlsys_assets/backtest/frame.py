"""The period's flights with their point-in-time features, computed once and shared by everything.

Every policy scores the same rows, every drift reference samples them and every retrain window
is a slice of them: a feature of a flight is what the feature store knew before that flight's
prediction time, whoever asks and whenever (the store's time-travel guarantee), so one
computation of the whole period serves all of them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlsys_assets.monitoring.reference import LABEL, add_labels, day_features
from mlsys_assets.resources.warehouse import Warehouse
from mlsys_assets.settings import Settings

DAY = "day"  # the local flight day as a date (the frame's own column, beside flight_date)


@dataclass
class PeriodFrame:
    """Flights of ``start..end`` (feature-store order) with features, ``label`` and ``day``."""

    frame: pd.DataFrame
    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        self._days = self.frame[DAY].to_numpy()
        self._bounds: dict[dt.date, tuple[int, int]] = {}
        values, first = np.unique(self._days, return_index=True)
        last = np.append(first[1:], len(self._days))
        if not np.all(self._days[:-1] <= self._days[1:]):
            raise ValueError("the period frame must be ordered by day")
        for value, lo, hi in zip(values, first, last, strict=True):
            self._bounds[value] = (int(lo), int(hi))

    @property
    def days(self) -> np.ndarray:
        """The local day of each row (``datetime.date`` objects)."""
        return self._days

    def rows(self, first: dt.date, last: dt.date) -> slice:
        """Positions of the rows of days ``first..last`` (the frame is ordered by day)."""
        inside = [b for d, b in self._bounds.items() if first <= d <= last]
        if not inside:
            return slice(0, 0)
        return slice(min(b[0] for b in inside), max(b[1] for b in inside))

    def between(self, first: dt.date, last: dt.date) -> pd.DataFrame:
        return self.frame.iloc[self.rows(first, last)]

    def landed(self, after: dt.date, upto: dt.date) -> int:
        """Flights of the days after ``after`` up to ``upto`` (cancelled ones too, as the live
        volume sensor counts ``raw.flights``)."""
        rows = self.rows(after + dt.timedelta(days=1), upto)
        return rows.stop - rows.start

    def flight_days(self, first: dt.date, last: dt.date) -> list[dt.date]:
        """The days of ``first..last`` that have flights, in order."""
        return sorted(d for d in self._bounds if first <= d <= last)


def load_period(settings: Settings, start: dt.date, end: dt.date) -> PeriodFrame:
    """Point-in-time features of every flight of ``start..end`` (one feature-store join)."""
    with Warehouse(path=str(settings.warehouse_path)).connect(read_only=True) as conn:
        frame = day_features(conn, start, end)
    frame = add_labels(frame, settings)
    frame[DAY] = pd.to_datetime(frame["flight_date"]).dt.date
    # the store orders by departure time (UTC): a late local flight can sort after the next
    # day's first one, so order by local day, stably, keeping the departure order within a day
    frame = frame.sort_values(DAY, kind="stable").reset_index(drop=True)
    if frame.empty:
        raise ValueError(f"no flights in the warehouse for {start}..{end}")
    return PeriodFrame(frame, start, end)


def labelled(frame: pd.DataFrame) -> pd.Series:
    """Rows with a known label (cancelled/diverted flights are excluded as in training)."""
    return frame[LABEL].notna()
