"""Evaluation of a trained model on its test window, against the baselines.

Everything a reviewer (and the quality gate) needs: overall metrics, calibration, per-segment
results, the two baselines, the decision threshold picked on validation, drift between the
training and the test window, and the plots.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xgboost as xgb

from mlsys_assets.model_contract import Baseline, FeatureSpec
from mlsys_assets.training import metrics, plots
from mlsys_assets.training.baseline import fit_baseline, predict_baseline
from mlsys_assets.training.dataset import TrainingSet
from mlsys_assets.training.drift import PSI_DRIFT, drift_table
from mlsys_assets.training.splits import TEST, TRAIN, VALIDATION


@dataclass
class Evaluation:
    """Metrics (flat, MLflow-ready), tables and PNG plots of one model on one test window."""

    metrics: dict[str, float]
    threshold: float
    threshold_rule: str
    threshold_goal: str
    baseline: Baseline
    calibration: pd.DataFrame
    segments: pd.DataFrame
    drift: pd.DataFrame
    plots: dict[str, bytes] = field(default_factory=dict)


def predict(booster: xgb.Booster, spec: FeatureSpec, frame: pd.DataFrame) -> np.ndarray:
    """Delay probabilities, through the same encoding serving uses."""
    matrix = xgb.DMatrix(spec.to_model_frame(frame), enable_categorical=True)
    return np.asarray(booster.predict(matrix), dtype="float64")


def validation_threshold(
    booster: xgb.Booster, training_set: TrainingSet, min_precision: float
) -> tuple[float, str, float]:
    """The decision threshold chosen on validation (and the validation ROC AUC) of a model that
    did not train on the validation window."""
    p_val = predict(booster, training_set.spec, training_set.part(VALIDATION))
    y_val = training_set.label(VALIDATION)
    threshold, rule = metrics.choose_threshold(y_val, p_val, min_precision)
    return threshold, rule, metrics.score(y_val, p_val)["roc_auc"]


def evaluate(
    booster: xgb.Booster,
    training_set: TrainingSet,
    *,
    min_precision: float,
    threshold: tuple[float, str, float] | None = None,
) -> Evaluation:
    """Evaluate on the test window against the baselines.

    ``threshold`` is ``validation_threshold`` of the early-stopped model when the shipped one was
    refitted on train+validation; by default it is computed from ``booster`` itself.
    """
    spec = training_set.spec
    test = training_set.part(TEST)
    y_test = training_set.label(TEST)
    p_test = predict(booster, spec, test)
    if threshold is None:
        threshold = validation_threshold(booster, training_set, min_precision)
    threshold_value, rule, validation_auc = threshold

    history = training_set.frame[training_set.frame["split"].isin([TRAIN, VALIDATION])]
    baseline = fit_baseline(history)
    p_baseline = predict_baseline(baseline, test)
    p_base_rate = np.full(len(test), baseline.global_rate)

    out: dict[str, float] = {}
    for prefix, p in (
        ("test", p_test),
        ("baseline_carrier_hour", p_baseline),
        ("baseline_base_rate", p_base_rate),
    ):
        out.update({f"{prefix}_{k}": v for k, v in metrics.score(y_test, p).items()})
    out.update(
        {
            f"test_{k}": v
            for k, v in metrics.decision_metrics(y_test, p_test, threshold_value).items()
        }
    )
    out["validation_roc_auc"] = validation_auc
    out["decision_threshold"] = threshold_value
    out["auc_lift_over_baseline"] = out["test_roc_auc"] - out["baseline_carrier_hour_roc_auc"]

    drift = drift_table(training_set.part(TRAIN), test, spec)
    out["drift_max_psi"] = float(drift["psi"].max()) if len(drift) else 0.0
    out["drift_features_over_threshold"] = float((drift["psi"] > PSI_DRIFT).sum())
    out["label_rate_train"] = float(
        np.average(training_set.label(TRAIN), weights=training_set.weight(TRAIN))
    )
    out["label_rate_test"] = float(y_test.mean())

    calibration = metrics.calibration_table(y_test, p_test)
    importance = {k: float(v) for k, v in booster.get_score(importance_type="total_gain").items()}
    curves = {"model": p_test, "carrier x hour baseline": p_baseline}
    return Evaluation(
        metrics=out,
        threshold=threshold_value,
        threshold_rule=rule,
        threshold_goal=metrics.THRESHOLD_GOAL.format(precision=min_precision),
        baseline=baseline,
        calibration=calibration,
        segments=metrics.segment_table(test, y_test, p_test),
        drift=drift,
        plots={
            "roc.png": plots.roc_plot(y_test, curves),
            "pr.png": plots.pr_plot(y_test, curves, threshold_value),
            "calibration.png": plots.calibration_plot(calibration),
            "importance.png": plots.importance_plot(importance),
        },
    )
