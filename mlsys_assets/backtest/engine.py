"""The backtest: walk the period under each policy, then train and score each distinct model once.

1. the warehouse gets the period's raw tables and offline features if it lacks them;
2. the period's point-in-time features are computed once (``PeriodFrame``);
3. each policy walks the days after the initial months and decides which model (data day) serves
   each day; the drift policy reads monitoring's drift share on the way (no model needed: the
   reference is the served model's training window);
4. every distinct model is trained once and scores only the days it serves, for every policy
   that serves it; live ROC AUC per day and per month follows from the day's labels.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mlsys_assets.backtest.data import DataStatus, ensure_data
from mlsys_assets.backtest.drift import DriftMeter
from mlsys_assets.backtest.frame import DAY, PeriodFrame, labelled, load_period
from mlsys_assets.backtest.models import BacktestModel, ModelCache
from mlsys_assets.backtest.policies import Policy, PolicyRun, steps, walk
from mlsys_assets.monitoring.reference import LABEL
from mlsys_assets.nycflights import FIRST_DAY, LAST_DAY
from mlsys_assets.settings import Settings
from mlsys_assets.training import metrics

MODEL_DAY = "model_data_day"


@dataclass(frozen=True)
class BacktestConfig:
    """The period, the initial training months and the walk's step."""

    start: dt.date = FIRST_DAY
    end: dt.date = LAST_DAY
    initial_months: int = 3
    step_days: int = 1
    policies: tuple[Policy, ...] = ("never", "monthly", "drift", "volume")
    workers: int = 2  # processes fitting models while the walk goes on (1: all in process)

    @property
    def initial_day(self) -> dt.date:
        """The last day the initial model learns from: ``initial_months`` after ``start``."""
        month = self.start.month - 1 + self.initial_months
        first_after = dt.date(self.start.year + month // 12, month % 12 + 1, 1)
        if self.start.day != 1:
            first_after = first_after.replace(day=min(self.start.day, 28))
        return first_after - dt.timedelta(days=1)


@dataclass
class BacktestResult:
    """Per policy: its walk and its scored days; the models; what it took."""

    config: BacktestConfig
    runs: dict[str, PolicyRun]
    models: dict[dt.date, BacktestModel]
    daily: pd.DataFrame  # policy, day, model_data_day, rows, positives, roc_auc
    scored: pd.DataFrame  # policy, day, model_data_day, label, score (one row per flight)
    data: DataStatus | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    period: PeriodFrame | None = None  # the flights and features it walked (for --verdicts)


def run_backtest(
    settings: Settings,
    config: BacktestConfig,
    *,
    fill: bool = True,
    log: Callable[[str], None] = lambda _: None,
) -> BacktestResult:
    """Run every policy of ``config`` over the period, side by side."""
    seconds: dict[str, float] = {}
    began = time.perf_counter()
    if config.initial_day >= config.end:
        raise ValueError(f"no day left to walk after the initial model ({config.initial_day})")
    status = ensure_data(settings, config.start, config.end, log=log) if fill else None
    seconds["data"] = time.perf_counter() - began

    began = time.perf_counter()
    period = load_period(settings, config.start, config.end)
    seconds["features"] = time.perf_counter() - began
    log(f"point-in-time features of {len(period.frame):,} flights ({seconds['features']:.1f}s)")

    began = time.perf_counter()
    meter = DriftMeter(period, settings)
    first_walk_day = config.initial_day + dt.timedelta(days=1)
    walk_steps = steps(first_walk_day, config.end, config.step_days)
    with ModelCache(
        period, settings, first_day=config.start, workers=config.workers, log=log
    ) as cache:
        runs: dict[str, PolicyRun] = {}
        # the policies that need no drift go first: their models train while drift is measured
        for policy in sorted(config.policies, key=lambda p: p == "drift"):
            runs[policy] = walk(
                policy,
                walk_steps,
                config.initial_day,
                settings,
                windows_for=cache.windows,
                drift=meter,
                landed=period.landed,
                on_retrain=cache.request,
            )
            log(f"{policy}: {runs[policy].retrain_count} retrains")
        runs = {p: runs[p] for p in config.policies}
        seconds["walk"] = time.perf_counter() - began
        began = time.perf_counter()
        scored = _score(period, runs, cache, first_walk_day, config.end)
        seconds["train_and_score"] = time.perf_counter() - began
        models = dict(cache.models)
    return BacktestResult(
        config=config,
        runs=runs,
        models=models,
        daily=daily_table(scored),
        scored=scored,
        data=status,
        seconds=seconds,
        period=period,
    )


def _score(
    period: PeriodFrame,
    runs: dict[str, PolicyRun],
    cache: ModelCache,
    first: dt.date,
    last: dt.date,
) -> pd.DataFrame:
    """Each policy's live scores: every model scores the union of the days it serves, once."""
    rows = period.between(first, last)
    rows = rows[labelled(rows).to_numpy()]
    days = rows[DAY].to_numpy()
    serving: dict[dt.date, set[dt.date]] = {}
    for run in runs.values():
        for day, model_day in run.served.items():
            serving.setdefault(model_day, set()).add(day)
    scores: dict[dt.date, tuple[np.ndarray, np.ndarray]] = {}
    for model_day in sorted(serving):
        mask = np.isin(days, list(serving[model_day]))
        scores[model_day] = (mask, cache.predict(model_day, rows[mask]))
    out = []
    for run in runs.values():
        model_days = np.array([run.served[d] for d in days], dtype=object)
        score = np.full(len(rows), np.nan)
        for model_day in set(run.served.values()):
            mask, values = scores[model_day]
            mine = model_days == model_day
            # positions of ``mine`` inside the model's scored rows
            score[mine] = values[np.cumsum(mask)[mine] - 1]
        if not (model_days < days).all():
            raise AssertionError(f"{run.policy}: a day was scored by a model trained on it")
        out.append(
            pd.DataFrame(
                {
                    "policy": run.policy,
                    DAY: days,
                    MODEL_DAY: model_days,
                    LABEL: rows[LABEL].to_numpy(dtype="float64"),
                    "score": score,
                }
            )
        )
    return pd.concat(out, ignore_index=True)


def _auc(frame: pd.DataFrame) -> float:
    y = frame[LABEL].to_numpy()
    return metrics.score(y, frame["score"].to_numpy())["roc_auc"] if len(y) else float("nan")


def daily_table(scored: pd.DataFrame) -> pd.DataFrame:
    """Live ROC AUC per policy and day, with the model that served the day."""
    rows = []
    for (policy, day), part in scored.groupby(["policy", DAY], sort=True):
        rows.append(
            {
                "policy": policy,
                DAY: day,
                MODEL_DAY: part[MODEL_DAY].iloc[0],
                "rows": len(part),
                "positives": int(part[LABEL].sum()),
                "roc_auc": _auc(part),
            }
        )
    return pd.DataFrame(rows)


def monthly_table(result: BacktestResult) -> pd.DataFrame:
    """Live ROC AUC per policy and month (all the month's labelled flights pooled), the mean of
    its daily AUCs, the retrains that started serving that month and the models used."""
    scored = result.scored.assign(month=pd.to_datetime(result.scored[DAY]).dt.strftime("%Y-%m"))
    daily = result.daily.assign(month=pd.to_datetime(result.daily[DAY]).dt.strftime("%Y-%m"))
    rows = []
    for (policy, month), part in scored.groupby(["policy", "month"], sort=True):
        run = result.runs[policy]
        retrains = [
            r
            for r in run.retrains
            if r.reason != "initial" and r.serves_from.strftime("%Y-%m") == month
        ]
        days = daily[(daily["policy"] == policy) & (daily["month"] == month)]
        rows.append(
            {
                "policy": policy,
                "month": month,
                "roc_auc": _auc(part),
                "mean_daily_roc_auc": float(days["roc_auc"].mean()),
                "rows": len(part),
                "positive_rate": float(part[LABEL].mean()),
                "retrains": len(retrains),
                "models": ";".join(sorted({str(d) for d in part[MODEL_DAY]})),
            }
        )
    return pd.DataFrame(rows)
