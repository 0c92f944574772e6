"""The drift signal the ``drift`` policy acts on: monitoring's own measure, on the shared frame.

Live monitoring compares each day's features with a sample of the served model's training window
(``monitoring_reference_rows`` flights, seeded) using Evidently's stat tests, each feature
against a threshold calibrated on ``monitoring_calibration_days`` whole days of that window; the
drift share is the fraction of features over their threshold, and the drift sensor retrains when
it reaches ``retrain_drift_share``. The same functions run here (``calibrated_thresholds``,
``compute_drift``); only the rows come from the period frame instead of a new feature-store join.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from mlsys_assets.backtest.frame import PeriodFrame
from mlsys_assets.monitoring.drift import DayDrift, compute_drift
from mlsys_assets.monitoring.reference import TRAIN, ModelRef, Reference, feature_columns
from mlsys_assets.monitoring.scores import calibrated_thresholds
from mlsys_assets.settings import Settings
from mlsys_assets.training.splits import DateWindow


class DriftMeter:
    """Drift of a day against the reference of a training window; references are built once."""

    def __init__(self, period: PeriodFrame, settings: Settings) -> None:
        self.period = period
        self.settings = settings
        self._references: dict[DateWindow, Reference] = {}
        self._drift: dict[tuple[DateWindow, dt.date], DayDrift] = {}

    def reference(self, train: DateWindow) -> Reference:
        """The reference of a model trained on ``train`` (as monitoring builds it)."""
        if train not in self._references:
            self._references[train] = self._build(train)
        return self._references[train]

    def _build(self, train: DateWindow) -> Reference:
        names, categorical = feature_columns()
        window = self.period.between(train.start, train.end).reset_index(drop=True)
        rows, seed = self.settings.monitoring.reference_rows, self.settings.seed
        sample = (
            window.sample(rows, random_state=seed).sort_index() if len(window) > rows else window
        )
        days = self.period.flight_days(train.start, train.end)
        count = min(self.settings.monitoring.calibration_days, len(days))
        picks = sorted({days[int(i)] for i in np.linspace(0, len(days) - 1, count)})
        calibration = [self.period.between(d, d) for d in picks]
        thresholds = calibrated_thresholds(sample, calibration, names, categorical)
        model = ModelRef(version=None, train_window=(train.start, train.end))
        return Reference(model, sample.assign(part=TRAIN), thresholds)

    def day(self, train: DateWindow, day: dt.date) -> DayDrift:
        """The drift of ``day``'s flights against the reference of ``train``."""
        key = (train, day)
        if key not in self._drift:
            self._drift[key] = compute_drift(self.reference(train), self.period.between(day, day))
        return self._drift[key]
