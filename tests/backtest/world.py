"""The backtest world the tests share: four months of reference data, small training windows
(each model a couple of seconds), a low drift threshold that makes the drift policy act on a
short period and a long cooldown that makes the cooldown matter."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from mlsys_assets.settings import Settings

START, END = dt.date(2013, 1, 1), dt.date(2013, 4, 30)
ENV = {
    "MLSYS_TRAINING__WINDOW_DAYS": "40",
    "MLSYS_TRAINING__VALIDATION_DAYS": "7",
    "MLSYS_TRAINING__TEST_DAYS": "7",
    "MLSYS_LOOP__RETRAIN_DRIFT_SHARE": "0.1",
    "MLSYS_LOOP__RETRAIN_COOLDOWN_DAYS": "10",
}


def settings_for(home: Path) -> Settings:
    return Settings(
        home=home,
        training={
            "window_days": int(ENV["MLSYS_TRAINING__WINDOW_DAYS"]),
            "validation_days": int(ENV["MLSYS_TRAINING__VALIDATION_DAYS"]),
            "test_days": int(ENV["MLSYS_TRAINING__TEST_DAYS"]),
        },
        loop={
            "retrain_drift_share": float(ENV["MLSYS_LOOP__RETRAIN_DRIFT_SHARE"]),
            "retrain_cooldown_days": int(ENV["MLSYS_LOOP__RETRAIN_COOLDOWN_DAYS"]),
        },
    )
