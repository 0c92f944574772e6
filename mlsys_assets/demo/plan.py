"""How much of 2013 a demo replays, in which steps, and the knobs that make it fit its budget."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass(frozen=True)
class DemoPlan:
    """The replayed period, the step size and the settings the demo's processes run with."""

    bootstrap_until: dt.date  # replayed before traffic starts; the first champion learns on it
    end: dt.date  # last day replayed step by step
    step_days: int
    traffic_share: float  # share of each day's scheduled flights sent to /predict
    env: dict[str, str] = field(default_factory=dict)

    def steps(self) -> list[tuple[dt.date, dt.date]]:
        """Consecutive (first, last) day ranges after the bootstrap, up to ``end``."""
        out, first = [], self.bootstrap_until + dt.timedelta(days=1)
        while first <= self.end:
            last = min(first + dt.timedelta(days=self.step_days - 1), self.end)
            out.append((first, last))
            first = last + dt.timedelta(days=1)
        return out


# Settings for every process the demo starts (MLSYS_* variables), sized for two cores.
_COMMON = {
    "MLSYS_SERVING_POLL_SECONDS": "2",
    "MLSYS_PREDICTION_LOG_FLUSH_SECONDS": "1",
    "MLSYS_RETRAIN_COOLDOWN_DAYS": "7",
}

# Quick: two live weeks. The first week's volume retrain becomes challenger, the second week's
# traffic decides its canary (and retrains again): the whole loop in under three minutes.
QUICK = DemoPlan(
    bootstrap_until=dt.date(2013, 2, 7),
    end=dt.date(2013, 2, 21),
    step_days=7,
    traffic_share=0.15,
    env={
        **_COMMON,
        "MLSYS_SEARCH_TRIALS": "2",
        "MLSYS_TRAINING_WINDOW_DAYS": "38",
        "MLSYS_VALIDATION_DAYS": "7",
        "MLSYS_TEST_DAYS": "7",
        "MLSYS_GATE_MARGIN": "0.02",
        "MLSYS_RETRAIN_MIN_NEW_LABELS": "6000",
        "MLSYS_CANARY_SHARE": "0.3",
        "MLSYS_CANARY_MIN_LABELLED": "100",
    },
)

# Full: a quarter replayed in two-week steps (each step is a pipeline run, a monitored day and
# maybe a retrain; weekly steps would not fit ten minutes on two cores).
FULL = DemoPlan(
    bootstrap_until=dt.date(2013, 3, 31),
    end=dt.date(2013, 6, 30),
    step_days=14,
    traffic_share=0.3,
    env={
        **_COMMON,
        "MLSYS_SEARCH_TRIALS": "8",
        "MLSYS_TRAINING_WINDOW_DAYS": "90",
        "MLSYS_VALIDATION_DAYS": "14",
        "MLSYS_TEST_DAYS": "7",
        "MLSYS_RETRAIN_MIN_NEW_LABELS": "20000",
        "MLSYS_CANARY_SHARE": "0.2",
        "MLSYS_CANARY_MIN_LABELLED": "300",
    },
)
