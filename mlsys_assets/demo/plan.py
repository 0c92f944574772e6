"""How much of 2013 a demo replays live, and the knobs that make it fit its budget.

A live day costs about one Dagster pipeline run (the nightly batch the next morning waits for)
plus its traffic, about 10 s on two cores: the plans are sized by the number of live days.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass(frozen=True)
class DemoPlan:
    """The replayed period, the step size and the settings the demo's processes run with."""

    bootstrap_until: dt.date  # replayed before traffic starts; the first champion learns on it
    end: dt.date  # last day played live, minute by minute
    traffic_share: float  # share of each day's scheduled flights sent to /predict
    env: dict[str, str] = field(default_factory=dict)
    # Every n-th request asks ``explain=true``, as a user asking "why" would: the daily
    # ``feature_contributions`` monitor then has explained answers to average every day.
    explain_every: int = 10

    def days(self) -> list[dt.date]:
        """The live days, after the bootstrap, up to ``end``."""
        first = self.bootstrap_until + dt.timedelta(days=1)
        return [first + dt.timedelta(days=i) for i in range((self.end - first).days + 1)]


# Settings for every process the demo starts (MLSYS_* variables), sized for two cores.
_COMMON = {
    # Every live day is monitored (a week per run); the Evidently HTML of the newest day only.
    "MLSYS_MONITORING__REPORT_LAST_DAYS": "1",
    "MLSYS_SERVING__POLL_SECONDS": "2",
    "MLSYS_SERVING__LOG_FLUSH_SECONDS": "1",
    # The stream processor is woken by each append (inotify); its poll is only a safety net.
    "MLSYS_LOOP__SENSOR_LOOP_SECONDS": "1",  # a day plays in seconds: each hop of the loop waits less
}

# Quick: five live days. The volume retrain after two days becomes challenger; shadow scoring
# pairs it with the champion on every request, so the next day's outcomes decide its canary,
# with a day to spare; one monitoring run covers the five days: the whole loop in under three
# minutes.
QUICK = DemoPlan(
    bootstrap_until=dt.date(2013, 2, 7),
    end=dt.date(2013, 2, 12),
    traffic_share=0.3,
    env={
        **_COMMON,
        "MLSYS_TRAINING__SEARCH_TRIALS": "2",
        "MLSYS_TRAINING__WINDOW_DAYS": "38",
        "MLSYS_TRAINING__VALIDATION_DAYS": "7",
        "MLSYS_TRAINING__TEST_DAYS": "7",
        "MLSYS_REGISTRY__GATE_MARGIN": "0.02",
        "MLSYS_LOOP__RETRAIN_COOLDOWN_DAYS": "2",
        # two days of flights: 8-9 February 2013 had a blizzard (1,614 flights, not ~1,800)
        "MLSYS_LOOP__RETRAIN_MIN_NEW_LABELS": "1500",
        "MLSYS_LOOP__CANARY_SHARE": "0.3",
        "MLSYS_LOOP__CANARY_MIN_LABELLED": "60",
        # about 190 shadow pairs a day: the verdict's maximum wait is within a day's outcomes
        "MLSYS_LOOP__CANARY_MAX_LABELLED": "120",
        "MLSYS_MONITORING__EVERY_DAYS": "5",
    },
)

# Full: a quarter to bootstrap, then two weeks live (a live day is a pipeline run: a quarter
# of them would not fit ten minutes on two cores). A retrain, its canary verdict, a second one.
FULL = DemoPlan(
    bootstrap_until=dt.date(2013, 3, 31),
    end=dt.date(2013, 4, 14),
    traffic_share=0.3,
    env={
        **_COMMON,
        "MLSYS_TRAINING__SEARCH_TRIALS": "8",
        "MLSYS_TRAINING__WINDOW_DAYS": "90",
        "MLSYS_TRAINING__VALIDATION_DAYS": "14",
        "MLSYS_TRAINING__TEST_DAYS": "7",
        "MLSYS_LOOP__RETRAIN_COOLDOWN_DAYS": "7",
        "MLSYS_LOOP__RETRAIN_MIN_NEW_LABELS": "7000",
        "MLSYS_LOOP__CANARY_SHARE": "0.2",
        "MLSYS_LOOP__CANARY_MIN_LABELLED": "200",
        "MLSYS_LOOP__CANARY_MAX_LABELLED": "800",  # ~215 shadow pairs a live day
        "MLSYS_MONITORING__EVERY_DAYS": "7",
    },
)
