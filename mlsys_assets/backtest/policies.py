"""The retraining policies, walked forward over the days: which model serves each day, and why.

A model is named by its *data day*: the last day whose outcomes it may learn from (outcomes of a
day are known at its end). A model trained on data day D serves from D+1 on, so scoring never
sees a model trained on the scored day or later. The walk only decides data days; training and
scoring happen afterwards, once per distinct model.

- ``never``: the initial model all period.
- ``monthly``: at each month start, a model of the trailing window up to the day before.
- ``drift``: after each step, the drift share of its last day (the newest day, as the live
  sensor reads it) against the served model's reference; at or over ``retrain_drift_share`` and
  at least ``retrain_cooldown_days`` after the last retrain's data day, retrain on data up to
  that day (the live drift sensor's rule, without the canary: the new model serves at once).
  The first model counts as a retrain for the cooldown (as the live first training does).
- ``volume``: after each step, the flights landed since the served model's data day; at or
  over ``retrain_min_new_labels`` and past the cooldown, retrain on data up to the step's last
  day (the live ``labelled_volume_retrain`` sensor's rule). With ``drift`` these are the two
  sensors that make the live loop's challengers; ``monthly`` is a calendar baseline.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from mlsys_assets.monitoring.drift import DayDrift
from mlsys_assets.settings import Settings
from mlsys_assets.training.pipeline import explicit_windows
from mlsys_assets.training.splits import DateWindow, SplitWindows, windows_before

Policy = Literal["never", "monthly", "drift", "volume"]
POLICIES: tuple[Policy, ...] = ("never", "monthly", "drift", "volume")
INITIAL, MONTH_START, DRIFT, VOLUME = "initial", "month start", "drift", "labelled volume"
ONE_DAY = dt.timedelta(days=1)


class DriftSource(Protocol):
    def day(self, train: DateWindow, day: dt.date) -> DayDrift: ...


@dataclass(frozen=True)
class Retrain:
    """One (re)training of a policy: the data it saw, when it starts serving, and why."""

    policy: str
    data_day: dt.date
    serves_from: dt.date
    reason: str
    signal: str


@dataclass(frozen=True)
class DriftCheck:
    """The drift policy's look at one day, and what it decided."""

    day: dt.date
    reference: str  # the served model's training window
    drift_share: float  # NaN when not measured: in the cooldown, no share could retrain
    n_drifted: int
    n_features: int
    blocked: str | None  # the cooldown that rules a retrain out, else None
    retrained: bool


@dataclass
class PolicyRun:
    """A policy's walk: the data day of the model serving each day, its retrains and checks."""

    policy: str
    served: dict[dt.date, dt.date] = field(default_factory=dict)
    retrains: list[Retrain] = field(default_factory=list)
    checks: list[DriftCheck] = field(default_factory=list)

    @property
    def retrain_count(self) -> int:
        """Retrains after the initial model."""
        return sum(r.reason != INITIAL for r in self.retrains)


def retrain_windows(settings: Settings, data_day: dt.date, first_day: dt.date) -> SplitWindows:
    """The windows the retrain job would use at ``data_day`` (the settings' trailing window,
    test at its end), clipped so that training starts no earlier than ``first_day``."""
    windows = windows_before(
        data_day,
        window_days=settings.training.window_days,
        validation_days=settings.training.validation_days,
        test_days=settings.training.test_days,
        gap_days=settings.training.split_gap_days,
    )
    if windows.train.start >= first_day:
        return windows
    return explicit_windows(
        settings, first_day, windows.validation.end, windows.test.start, windows.test.end
    )


def steps(first: dt.date, last: dt.date, step_days: int) -> list[tuple[dt.date, dt.date]]:
    """Consecutive ``(first, last)`` day ranges of at most ``step_days``, never across a month
    boundary (so a month start always begins a step)."""
    if step_days < 1:
        raise ValueError("step_days must be at least 1")
    out, day = [], first
    while day <= last:
        month_end = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - ONE_DAY
        end = min(day + dt.timedelta(days=step_days - 1), month_end, last)
        out.append((day, end))
        day = end + ONE_DAY
    return out


def walk(
    policy: Policy,
    walk_steps: list[tuple[dt.date, dt.date]],
    initial_day: dt.date,
    settings: Settings,
    *,
    windows_for: Callable[[dt.date], SplitWindows],
    drift: DriftSource | None = None,
    landed: Callable[[dt.date, dt.date], int] | None = None,
    on_retrain: Callable[[dt.date], None] = lambda _: None,
) -> PolicyRun:
    """Decide, step by step, which model (data day) serves each day under ``policy``.

    ``landed(after, upto)`` counts the flights of the days after ``after`` up to ``upto`` (the
    volume policy's signal). ``on_retrain`` hears of each model as soon as it is chosen
    (training can start meanwhile).
    """
    run = PolicyRun(policy)
    current = last_retrain = initial_day
    run.retrains.append(Retrain(policy, initial_day, initial_day + ONE_DAY, INITIAL, "first model"))
    on_retrain(initial_day)
    for first, last in walk_steps:
        if policy == "monthly" and first.day == 1 and first - ONE_DAY != current:
            current = first - ONE_DAY
            run.retrains.append(Retrain(policy, current, first, MONTH_START, first.isoformat()))
            on_retrain(current)
        for offset in range((last - first).days + 1):
            day = first + dt.timedelta(days=offset)
            if day <= current:  # a model never serves the days it learned from
                raise AssertionError(f"{policy}: model of data day {current} would serve {day}")
            run.served[day] = current
        if policy not in ("drift", "volume") or last == walk_steps[-1][1]:
            continue  # a retrain after the last day would serve nothing
        if policy == "volume":
            if landed is None:
                raise ValueError("the volume policy needs a count of landed flights")
            new_rows = landed(current, last)
            cooled = (last - last_retrain).days >= settings.loop.retrain_cooldown_days
            if new_rows >= settings.loop.retrain_min_new_labels and cooled:
                signal = f"{new_rows} labelled rows since {current}"
                current = last_retrain = last
                run.retrains.append(Retrain(policy, last, last + ONE_DAY, VOLUME, signal))
                on_retrain(current)
            continue
        if drift is None:
            raise ValueError("the drift policy needs a drift source")
        train = windows_for(current).train
        if (last - last_retrain).days < settings.loop.retrain_cooldown_days:
            # whatever the share, the sensor would not retrain: save measuring it
            blocked = (
                f"last retrain was on data of {last_retrain}, "
                f"cooldown {settings.loop.retrain_cooldown_days} days"
            )
            run.checks.append(DriftCheck(last, str(train), float("nan"), 0, 0, blocked, False))
            continue
        measured = drift.day(train, last)
        share = measured.drift_share
        fire = share >= settings.loop.retrain_drift_share
        run.checks.append(
            DriftCheck(last, str(train), share, measured.n_drifted, measured.n_features, None, fire)
        )
        if fire:
            current = last_retrain = last
            signal = f"drift share {share:.3f} on {last}"
            run.retrains.append(Retrain(policy, last, last + ONE_DAY, DRIFT, signal))
            on_retrain(current)
    return run
