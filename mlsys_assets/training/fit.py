"""XGBoost training with early stopping on the validation window.

Categoricals go in through ``FeatureSpec.to_model_frame`` with ``enable_categorical``: the very
function serving calls on a request, so online and offline encode a category the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xgboost as xgb

from mlsys_assets.training.dataset import TrainingSet
from mlsys_assets.training.splits import TRAIN, VALIDATION

MAX_ROUNDS = 400
EARLY_STOPPING_ROUNDS = 20


def base_params(seed: int, threads: int) -> dict[str, Any]:
    """Fixed parameters: deterministic for a seed and a thread count (``hist`` is exact-repeatable)."""
    return {
        "objective": "binary:logistic",
        "eval_metric": ["logloss", "auc"],  # the last one drives early stopping
        "tree_method": "hist",
        "max_cat_to_onehot": 1,
        "seed": seed,
        "nthread": threads,
        "verbosity": 0,
    }


def default_params(seed: int, threads: int) -> dict[str, Any]:
    """Sensible parameters when no search runs (``trials=0``): shallow, slow, regularised."""
    return {
        **base_params(seed, threads),
        "eta": 0.15,
        "max_depth": 5,
        "min_child_weight": 20.0,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
        "lambda": 5.0,
    }


@dataclass
class Matrices:
    """The train and validation DMatrix, built once and shared by every search trial."""

    train: xgb.DMatrix
    validation: xgb.DMatrix

    @classmethod
    def of(
        cls,
        training_set: TrainingSet,
        threads: int,
        *,
        max_train_rows: int | None = None,
        seed: int = 0,
    ) -> Matrices:
        """Train and validation matrices; ``max_train_rows`` caps train by a seeded draw.

        The cap is for the search: parameters are compared on a sample of the training rows
        (every validation row), then the final model is fitted on all of them.
        """

        def matrix(split: str, rows: np.ndarray | None = None) -> xgb.DMatrix:
            frame = training_set.model_frame(split)
            label, weight = training_set.label(split), training_set.weight(split)
            if rows is not None:
                frame, label, weight = frame.iloc[rows], label[rows], weight[rows]
            return xgb.DMatrix(
                frame, label=label, weight=weight, enable_categorical=True, nthread=threads
            )

        n_train = len(training_set.part(TRAIN))
        rows = None
        if max_train_rows is not None and n_train > max_train_rows:
            rng = np.random.default_rng(seed)
            rows = np.sort(rng.choice(n_train, size=max_train_rows, replace=False))
        return cls(matrix(TRAIN, rows), matrix(VALIDATION))


def train_booster(
    matrices: Matrices,
    params: dict[str, Any],
    *,
    callbacks: Sequence[xgb.callback.TrainingCallback] = (),
    max_rounds: int = MAX_ROUNDS,
) -> xgb.Booster:
    """Train until validation AUC stops improving; return the booster cut at its best round."""
    booster = xgb.train(
        params,
        matrices.train,
        num_boost_round=max_rounds,
        evals=[(matrices.validation, "validation")],
        early_stopping_rounds=EARLY_STOPPING_ROUNDS,
        callbacks=list(callbacks),
        verbose_eval=False,
    )
    best = int(booster.best_iteration)
    trimmed = booster[: best + 1]
    trimmed.set_attr(best_iteration=str(best), best_score=str(booster.best_score))
    return trimmed


@dataclass
class FinalFit:
    """The model to ship and the early-stopped one whose validation scores stay honest."""

    booster: xgb.Booster
    early_stopped: xgb.Booster
    rounds: int
    refit: bool


def fit_final(
    training_set: TrainingSet, params: dict[str, Any], *, threads: int, refit: bool
) -> FinalFit:
    """Early-stop on validation; then, if ``refit``, retrain on train+validation.

    Flight delays drift with the season, so the most recent weeks (the validation window) are
    worth learning from: the refit keeps the early-stopped number of rounds, scaled by the
    larger row count. Validation-based choices (the threshold) use the early-stopped model.
    """
    early_stopped = train_booster(Matrices.of(training_set, threads), params)
    rounds = int(early_stopped.attr("best_iteration") or 0) + 1
    if not refit:
        return FinalFit(early_stopped, early_stopped, rounds, refit=False)
    fit_rows = training_set.frame[training_set.frame["split"].isin([TRAIN, VALIDATION])]
    n_train = len(training_set.part(TRAIN))
    rounds = max(1, round(rounds * len(fit_rows) / max(n_train, 1)))
    matrix = xgb.DMatrix(
        training_set.spec.to_model_frame(fit_rows),
        label=fit_rows["label"].to_numpy(dtype="float64"),
        weight=fit_rows["weight"].to_numpy(dtype="float64"),
        enable_categorical=True,
        nthread=threads,
    )
    booster = xgb.train(params, matrix, num_boost_round=rounds, verbose_eval=False)
    booster.set_attr(rounds=str(rounds), refit="train+validation")
    return FinalFit(booster, early_stopped, rounds, refit=True)
