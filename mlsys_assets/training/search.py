"""Hyper-parameter search: Optuna over XGBoost parameters, pruned on XGBoost's own rounds.

A seeded TPE sampler and a fixed thread count make the search repeatable; a trial whose
validation AUC lags the median of earlier trials at the same round is pruned from inside
XGBoost's training loop (a ``TrainingCallback``), so bad regions cost a few rounds only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import optuna
import pandas as pd
import xgboost as xgb

from mlsys_assets.training.fit import Matrices, base_params, train_booster

VALIDATION_METRIC = "auc"


class PruningCallback(xgb.callback.TrainingCallback):
    """Report each round's validation AUC to the trial and stop it when the pruner says so."""

    def __init__(self, trial: optuna.Trial, data: str = "validation") -> None:
        super().__init__()
        self.trial = trial
        self.data = data

    def after_iteration(self, model: Any, epoch: int, evals_log: dict[str, Any]) -> bool:
        score = float(evals_log[self.data][VALIDATION_METRIC][-1])
        self.trial.report(score, step=epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at round {epoch} (validation auc {score:.4f})")
        return False


@dataclass
class SearchResult:
    """The best parameters found, and the whole study history (kept with the MLflow run)."""

    best_params: dict[str, Any]
    best_value: float
    best_trial: int
    history: pd.DataFrame
    n_trials: int
    n_pruned: int

    def summary(self) -> dict[str, float | int]:
        return {
            "search_best_validation_auc": self.best_value,
            "search_trials": self.n_trials,
            "search_pruned": self.n_pruned,
        }


def suggest(trial: optuna.Trial) -> dict[str, Any]:
    """The search space."""
    return {
        "eta": trial.suggest_float("eta", 0.06, 0.3, log=True),
        "max_depth": trial.suggest_int("max_depth", 3, 8),
        "min_child_weight": trial.suggest_float("min_child_weight", 1.0, 64.0, log=True),
        "subsample": trial.suggest_float("subsample", 0.6, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0),
        "lambda": trial.suggest_float("lambda", 1e-3, 10.0, log=True),
        "alpha": trial.suggest_float("alpha", 1e-3, 10.0, log=True),
        "max_cat_threshold": trial.suggest_int("max_cat_threshold", 8, 64, log=True),
    }


def search(
    matrices: Matrices,
    *,
    trials: int,
    seed: int,
    threads: int,
    timeout_seconds: float | None = None,
) -> SearchResult:
    """Run the study and return the best parameters (merged with the fixed ones)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name="flight_delay_search",
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=10),
    )
    fixed = base_params(seed, threads)

    def objective(trial: optuna.Trial) -> float:
        booster = train_booster(
            matrices, {**fixed, **suggest(trial)}, callbacks=[PruningCallback(trial)]
        )
        trial.set_user_attr("best_iteration", int(booster.attr("best_iteration") or 0))
        return float(booster.attr("best_score") or 0.0)

    study.optimize(objective, n_trials=trials, timeout=timeout_seconds, gc_after_trial=False)
    history = study.trials_dataframe()
    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
    best = study.best_trial
    return SearchResult(
        best_params={**fixed, **best.params},
        best_value=float(best.value if best.value is not None else 0.0),
        best_trial=best.number,
        history=history,
        n_trials=len(study.trials),
        n_pruned=int(pruned),
    )
