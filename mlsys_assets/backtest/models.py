"""The backtest's models: each distinct one trained once, in process, and scored once.

A model is named by its data day (see ``policies``); its windows are the retrain job's
(``retrain_windows``), its training set is the retrain job's training set cut from the shared
period frame (same rows, labels, split, categories and digest as ``select_training_set``, which
the tests check), and it is fitted by the training code with the default parameters
(``trials=0``), the settings' seed and ``train_threads``. No MLflow: nothing is registered.
Models are fitted in worker processes while the walk is still deciding (two cores: the walk
measures drift in one, a worker trains in the other).
"""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xgboost as xgb

from mlsys_assets.backtest.frame import PeriodFrame, load_period
from mlsys_assets.backtest.policies import retrain_windows
from mlsys_assets.features.catalog import SERVICES
from mlsys_assets.model_contract import FeatureSpec
from mlsys_assets.monitoring.reference import LABEL
from mlsys_assets.resources.warehouse import Warehouse
from mlsys_assets.settings import Settings
from mlsys_assets.training import metrics
from mlsys_assets.training.dataset import TrainingSet, feature_spec_for, training_set_digest
from mlsys_assets.training.evaluate import predict
from mlsys_assets.training.fit import default_params, fit_final
from mlsys_assets.training.pipeline import build_training_set
from mlsys_assets.training.splits import TEST, SplitWindows

SORT = ["flight_date", "scheduled_departure", "carrier", "flight", "origin"]


@dataclass(frozen=True)
class BacktestModel:
    """A fitted model, the data it saw and how it did on its own test window."""

    data_day: dt.date
    windows: SplitWindows
    booster: xgb.Booster
    spec: FeatureSpec
    rows: int
    rounds: int
    test_roc_auc: float
    seconds: float
    digest: str


def training_set_from_period(
    period: PeriodFrame, windows: SplitWindows, settings: Settings
) -> TrainingSet:
    """The retrain job's training set of ``windows``, from the already computed period frame.

    Sampling other than ``none`` goes through ``select_training_set`` itself (it draws rows).
    """
    if settings.training.sampling != "none" and settings.training.sampling_negative_rate < 1.0:
        with Warehouse(path=str(settings.warehouse_path)).connect(read_only=True) as conn:
            return build_training_set(conn, settings, windows, settings.seed)
    span = windows.span
    rows = period.between(span.start, span.end)
    split = windows.assign(rows["flight_date"])
    keep = (split.notna() & rows[LABEL].notna()).to_numpy()
    frame = rows[keep].assign(split=split[keep].to_numpy(), weight=1.0)
    frame = frame.sort_values(SORT).reset_index(drop=True)
    service = SERVICES[settings.features.service]
    names, categorical = service.feature_names, service.categorical_features
    spec = feature_spec_for(frame, service.name, list(names), list(categorical))
    inputs = spec.to_input_frame(frame)
    for name in spec.feature_names:  # the dtypes the signature states (as the training set has)
        frame[name] = inputs[name]
    frame["label"] = frame[LABEL].astype("float64")
    frame["weight"] = frame["weight"].astype("float64")
    summary = {**windows.as_dict(), "rows_total": len(frame)}
    summary["digest"] = training_set_digest(frame, spec)
    return TrainingSet(frame, spec, windows, summary)


def train_model_of_day(
    period: PeriodFrame, settings: Settings, first_day: dt.date, data_day: dt.date
) -> BacktestModel:
    """Fit the model of ``data_day``: the retrain job's windows, default parameters, no search."""
    began = time.perf_counter()
    windows = retrain_windows(settings, data_day, first_day)
    if windows.span.end != data_day:
        raise AssertionError(f"model of {data_day} would see data up to {windows.span.end}")
    training_set = training_set_from_period(period, windows, settings)
    threads = settings.training.threads
    fit = fit_final(
        training_set,
        default_params(settings.seed, threads),
        threads=threads,
        refit=settings.training.refit_on_validation,
    )
    test = training_set.part(TEST)
    p_test = predict(fit.booster, training_set.spec, test)
    auc = metrics.score(training_set.label(TEST), p_test)["roc_auc"] if len(test) else np.nan
    return BacktestModel(
        data_day=data_day,
        windows=windows,
        booster=fit.booster,
        spec=training_set.spec,
        rows=len(training_set.frame),
        rounds=fit.rounds,
        test_roc_auc=float(auc),
        seconds=time.perf_counter() - began,
        digest=training_set.digest,
    )


_WORKER_PERIOD: PeriodFrame | None = None  # the worker's own copy of the period frame


def _init_worker(settings: Settings, start: dt.date, end: dt.date) -> None:
    """Compute the period frame once per worker (the same deterministic feature-store join)."""
    global _WORKER_PERIOD
    _WORKER_PERIOD = load_period(settings, start, end)


def _train_in_worker(settings: Settings, first_day: dt.date, data_day: dt.date) -> BacktestModel:
    if _WORKER_PERIOD is None:
        raise RuntimeError("the worker has no period frame")
    return train_model_of_day(_WORKER_PERIOD, settings, first_day, data_day)


class ModelCache:
    """Each data day's model, trained once: in ``workers`` processes as soon as it is requested
    (while the walk goes on), or in process with ``workers=1``.

    Workers are spawned, not forked: a fork after XGBoost's OpenMP threads ran in the parent can
    hang the child. Each worker computes the period frame itself rather than receive it pickled.
    """

    def __init__(
        self,
        period: PeriodFrame,
        settings: Settings,
        *,
        first_day: dt.date,
        workers: int = 1,
        log: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.period = period
        self.settings = settings
        self.first_day = first_day
        self.log = log
        self.models: dict[dt.date, BacktestModel] = {}
        self._futures: dict[dt.date, Future[BacktestModel]] = {}
        self._pool: ProcessPoolExecutor | None = None
        if workers > 1:
            self._pool = ProcessPoolExecutor(
                workers,
                mp_context=mp.get_context("spawn"),
                initializer=_init_worker,
                initargs=(settings, period.start, period.end),
            )

    def __enter__(self) -> ModelCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def windows(self, data_day: dt.date) -> SplitWindows:
        return retrain_windows(self.settings, data_day, self.first_day)

    def request(self, data_day: dt.date) -> None:
        """Start training the model of ``data_day`` in a worker (no-op in process)."""
        if self._pool is None or data_day in self.models or data_day in self._futures:
            return
        self._futures[data_day] = self._pool.submit(
            _train_in_worker, self.settings, self.first_day, data_day
        )

    def model(self, data_day: dt.date) -> BacktestModel:
        if data_day not in self.models:
            future = self._futures.pop(data_day, None)
            if future is not None:
                model = future.result()
            else:
                model = train_model_of_day(self.period, self.settings, self.first_day, data_day)
            self.models[data_day] = model
            self.log(
                f"model of data day {data_day}: {model.rows} rows, {model.rounds} rounds, "
                f"test ROC AUC {model.test_roc_auc:.3f} (fitted in {model.seconds:.1f}s)"
            )
        return self.models[data_day]

    def predict(self, data_day: dt.date, rows: pd.DataFrame) -> np.ndarray:
        """Delay probabilities of ``rows`` by the model of ``data_day`` (serving's encoding)."""
        model = self.model(data_day)
        return predict(model.booster, model.spec, rows)
