"""The policies' rules on scripted signals: steps, month starts, thresholds and cooldown."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from mlsys_assets.backtest.engine import BacktestConfig
from mlsys_assets.backtest.policies import (
    DRIFT,
    INITIAL,
    VOLUME,
    retrain_windows,
    steps,
    walk,
)
from mlsys_assets.monitoring.drift import DayDrift
from mlsys_assets.settings import Settings
from mlsys_assets.training.splits import DateWindow, SplitWindows

D = dt.date


class ScriptedDrift:
    """A drift signal with given shares per day (0 elsewhere); records what it was asked."""

    def __init__(self, shares: dict[dt.date, float]) -> None:
        self.shares = shares
        self.asked: list[tuple[DateWindow, dt.date]] = []

    def day(self, train: DateWindow, day: dt.date) -> DayDrift:
        self.asked.append((train, day))
        share = self.shares.get(day, 0.0)
        return DayDrift(pd.DataFrame(), 100, share, 10, round(share * 10), None, None)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path,
        training={"window_days": 40, "validation_days": 7, "test_days": 7},
        loop={
            "retrain_drift_share": 0.4,
            "retrain_cooldown_days": 7,
            "retrain_min_new_labels": 9_000,
        },
    )


def test_steps_never_cross_a_month_boundary() -> None:
    out = steps(D(2013, 3, 25), D(2013, 5, 3), 7)
    assert out[:3] == [(D(2013, 3, 25), D(2013, 3, 31)), (D(2013, 4, 1), D(2013, 4, 7)),
                       (D(2013, 4, 8), D(2013, 4, 14))]  # fmt: skip
    assert out[-2:] == [(D(2013, 4, 29), D(2013, 4, 30)), (D(2013, 5, 1), D(2013, 5, 3))]
    days = [s + dt.timedelta(days=i) for s, e in out for i in range((e - s).days + 1)]
    assert days == [D(2013, 3, 25) + dt.timedelta(days=i) for i in range(40)]
    assert len(steps(D(2013, 4, 1), D(2013, 4, 30), 1)) == 30


def test_initial_day_is_the_end_of_the_initial_months() -> None:
    assert BacktestConfig(initial_months=3).initial_day == D(2013, 3, 31)
    assert BacktestConfig(initial_months=2).initial_day == D(2013, 2, 28)
    assert BacktestConfig(initial_months=11).initial_day == D(2013, 11, 30)


def test_windows_end_at_the_data_day_and_start_no_earlier_than_the_period(
    settings: Settings,
) -> None:
    late = retrain_windows(settings, D(2013, 6, 30), D(2013, 1, 1))
    assert late.span.end == D(2013, 6, 30) and late.train.start > D(2013, 1, 1)
    early = retrain_windows(settings, D(2013, 1, 31), D(2013, 1, 10))
    assert early.train.start == D(2013, 1, 10) and early.span.end == D(2013, 1, 31)


def test_never_and_monthly(settings: Settings) -> None:
    walk_steps = steps(D(2013, 4, 1), D(2013, 6, 30), 1)

    def windows_for(day: dt.date) -> SplitWindows:
        return retrain_windows(settings, day, D(2013, 1, 1))

    never = walk("never", walk_steps, D(2013, 3, 31), settings, windows_for=windows_for)
    assert never.retrain_count == 0 and set(never.served.values()) == {D(2013, 3, 31)}
    monthly = walk("monthly", walk_steps, D(2013, 3, 31), settings, windows_for=windows_for)
    assert [(r.serves_from, r.data_day) for r in monthly.retrains[1:]] == [
        (D(2013, 5, 1), D(2013, 4, 30)),
        (D(2013, 6, 1), D(2013, 5, 31)),
    ]
    assert monthly.served[D(2013, 4, 30)] == D(2013, 3, 31)
    assert monthly.served[D(2013, 5, 1)] == D(2013, 4, 30)
    assert all(model < day for day, model in monthly.served.items())


def test_drift_respects_threshold_and_cooldown(settings: Settings) -> None:
    shares = {
        D(2013, 4, 3): 0.6,  # 3 days after the first model's data day: cooldown blocks it
        D(2013, 4, 9): 0.39,  # under the threshold
        D(2013, 4, 10): 0.4,  # at the threshold, 10 days after: retrain
        D(2013, 4, 12): 0.9,  # 2 days after that retrain: blocked
        D(2013, 4, 17): 0.5,  # exactly the cooldown later: retrain
        D(2013, 4, 30): 0.99,  # the last day: a retrain would serve nothing
    }
    signal = ScriptedDrift(shares)
    walk_steps = steps(D(2013, 4, 1), D(2013, 4, 30), 1)
    run = walk(
        "drift",
        walk_steps,
        D(2013, 3, 31),
        settings,
        windows_for=lambda d: retrain_windows(settings, d, D(2013, 1, 1)),
        drift=signal,
    )
    assert [(r.reason, r.data_day) for r in run.retrains] == [
        (INITIAL, D(2013, 3, 31)),
        (DRIFT, D(2013, 4, 10)),
        (DRIFT, D(2013, 4, 17)),
    ]
    blocked = [c.day for c in run.checks if c.blocked]  # within 7 days of a retrain's data day
    assert blocked == [D(2013, 4, d) for d in [*range(1, 7), *range(11, 17), *range(18, 24)]]
    assert D(2013, 4, 9) not in blocked and not run.checks[8].retrained  # 0.39: under
    assert run.served[D(2013, 4, 10)] == D(2013, 3, 31)  # the drifted day is still the old one's
    assert run.served[D(2013, 4, 11)] == D(2013, 4, 10)
    assert run.served[D(2013, 4, 30)] == D(2013, 4, 17)
    # the reference is the served model's training window
    by_day = {day: train for train, day in signal.asked}
    assert by_day[D(2013, 4, 10)] == retrain_windows(settings, D(2013, 3, 31), D(2013, 1, 1)).train
    assert by_day[D(2013, 4, 17)] == retrain_windows(settings, D(2013, 4, 10), D(2013, 1, 1)).train
    assert D(2013, 4, 30) not in by_day


def test_weekly_steps_look_at_the_newest_day(settings: Settings) -> None:
    signal = ScriptedDrift({D(2013, 4, 10): 0.9, D(2013, 4, 14): 0.5})
    run = walk(
        "drift",
        steps(D(2013, 4, 1), D(2013, 4, 30), 7),
        D(2013, 3, 31),
        settings,
        windows_for=lambda d: retrain_windows(settings, d, D(2013, 1, 1)),
        drift=signal,
    )
    assert [day for _, day in signal.asked] == [D(2013, 4, 7), D(2013, 4, 14), D(2013, 4, 21),
                                                D(2013, 4, 28)]  # fmt: skip
    assert [r.data_day for r in run.retrains] == [D(2013, 3, 31), D(2013, 4, 14)]
    assert run.served[D(2013, 4, 15)] == D(2013, 4, 14)


def test_volume_retrains_once_enough_flights_landed_since_the_served_models_data(
    settings: Settings,
) -> None:
    per_day = {D(2013, 4, d): 1_000 for d in range(1, 31)} | {D(2013, 4, 2): 5_000}

    def landed(after: dt.date, upto: dt.date) -> int:
        return sum(n for day, n in per_day.items() if after < day <= upto)

    run = walk(
        "volume",
        steps(D(2013, 4, 1), D(2013, 4, 30), 1),
        D(2013, 3, 31),
        settings,
        windows_for=lambda d: retrain_windows(settings, d, D(2013, 1, 1)),
        landed=landed,
    )
    # April 1-5: 9,000 flights but within the 7-day cooldown; April 7: 11,000, retrain;
    # then 9 days of 1,000 (April 16); then 9 more (April 25)
    assert [(r.reason, r.data_day) for r in run.retrains] == [
        (INITIAL, D(2013, 3, 31)),
        (VOLUME, D(2013, 4, 7)),
        (VOLUME, D(2013, 4, 16)),
        (VOLUME, D(2013, 4, 25)),
    ]
    assert run.retrains[1].signal == "11000 labelled rows since 2013-03-31"
    assert run.served[D(2013, 4, 8)] == D(2013, 4, 7)
