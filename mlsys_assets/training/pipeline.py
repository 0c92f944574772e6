"""Training as plain functions: windows -> training set -> search -> model -> evaluation.

The Dagster assets call these one step per asset; ``train_model`` chains them for callers that
need a model without Dagster (the registry's ``train_and_register``, tests, the benchmark).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import duckdb
import xgboost as xgb

from mlsys_assets.features.catalog import SERVICES
from mlsys_assets.settings import Settings
from mlsys_assets.training.dataset import SamplingPlan, TrainingSet, select_training_set
from mlsys_assets.training.evaluate import Evaluation, evaluate, validation_threshold
from mlsys_assets.training.fit import Matrices, default_params, fit_final
from mlsys_assets.training.search import SearchResult, search
from mlsys_assets.training.splits import SplitWindows, split_windows, windows_before


@dataclass
class TrainedModel:
    """A fitted booster with everything needed to log, register and gate it."""

    training_set: TrainingSet
    search: SearchResult | None
    params: dict[str, Any]
    booster: xgb.Booster
    evaluation: Evaluation


def latest_labelled_day(conn: duckdb.DuckDBPyConnection) -> dt.date:
    """The last local day with flight outcomes in the warehouse."""
    row = conn.execute("SELECT max(flight_date) FROM raw.flights").fetchone()
    if row is None or row[0] is None:
        raise ValueError("raw.flights is empty: nothing to train on")
    return row[0]


def configured_windows(settings: Settings, latest_day: dt.date) -> SplitWindows:
    """The split windows the settings ask for, ending at the cut-off or the latest day."""
    cutoff = min(settings.training.cutoff_day or latest_day, latest_day)
    return windows_before(
        cutoff,
        window_days=settings.training.window_days,
        validation_days=settings.training.validation_days,
        test_days=settings.training.test_days,
        gap_days=settings.training.split_gap_days,
    )


def explicit_windows(
    settings: Settings,
    train_start: dt.date,
    train_end: dt.date,
    test_start: dt.date,
    test_end: dt.date,
) -> SplitWindows:
    """Train+validation ``train_start..train_end`` (validation at its end), test as given."""
    return split_windows(
        train_start,
        train_end,
        test_start,
        test_end,
        validation_days=settings.training.validation_days,
        gap_days=settings.training.split_gap_days,
    )


def build_training_set(
    conn: duckdb.DuckDBPyConnection, settings: Settings, windows: SplitWindows, seed: int
) -> TrainingSet:
    """The labelled, split, sampled training set of ``windows`` as the settings define it."""
    plan = SamplingPlan(settings.training.sampling, settings.training.sampling_negative_rate, seed)
    return select_training_set(
        conn,
        windows,
        cancelled_policy=settings.training.cancelled_policy,
        sampling=plan,
        service=SERVICES[settings.features.service],
    )


def fit_and_evaluate(
    training_set: TrainingSet,
    settings: Settings,
    params: dict[str, Any],
    search_result: SearchResult | None = None,
) -> TrainedModel:
    """Fit with early stopping on validation (refit on train+validation), evaluate on test."""
    fit = fit_final(
        training_set,
        params,
        threads=settings.training.threads,
        refit=settings.training.refit_on_validation,
    )
    threshold = validation_threshold(
        fit.early_stopped, training_set, settings.training.threshold_min_precision
    )
    evaluation = evaluate(
        fit.booster,
        training_set,
        min_precision=settings.training.threshold_min_precision,
        threshold=threshold,
    )
    evaluation.metrics["boosting_rounds"] = float(fit.rounds)
    return TrainedModel(training_set, search_result, params, fit.booster, evaluation)


def train_model(
    training_set: TrainingSet, settings: Settings, *, trials: int, seed: int
) -> TrainedModel:
    """Search ``trials`` Optuna trials (0: default parameters), then fit and evaluate."""
    threads = settings.training.threads
    if trials <= 0:
        return fit_and_evaluate(training_set, settings, default_params(seed, threads))
    result = search(
        Matrices.of(
            training_set, threads, max_train_rows=settings.training.search_max_rows, seed=seed
        ),
        trials=trials,
        seed=seed,
        threads=threads,
        timeout_seconds=settings.training.search_timeout_seconds,
    )
    return fit_and_evaluate(training_set, settings, result.best_params, result)
