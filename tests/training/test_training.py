"""Search, training and evaluation: reproducible, better than the baselines, complete."""

from __future__ import annotations

import numpy as np

from mlsys_assets.training.dataset import (
    read_training_set,
    select_training_set,
    write_training_set,
)
from mlsys_assets.training.evaluate import predict
from mlsys_assets.training.pipeline import train_model
from mlsys_assets.training.splits import VALIDATION

PNG = b"\x89PNG"


def test_same_snapshot_and_seed_reproduce_the_metrics(conn, windows, train_settings) -> None:
    write_training_set(conn, select_training_set(conn, windows))
    first = train_model(read_training_set(conn), train_settings, trials=2, seed=11)
    again = train_model(read_training_set(conn), train_settings, trials=2, seed=11)
    assert first.search is not None and again.search is not None
    assert first.search.best_params == again.search.best_params
    assert first.evaluation.metrics == again.evaluation.metrics
    assert len(first.search.history) == 2  # the study's history is kept


def test_evaluation_is_complete_and_beats_the_base_rate(conn, windows, train_settings) -> None:
    ts = select_training_set(conn, windows)
    model = train_model(ts, train_settings, trials=0, seed=3)
    ev = model.evaluation
    m = ev.metrics
    for key in (
        "test_roc_auc",
        "test_pr_auc",
        "test_log_loss",
        "test_brier",
        "test_ece",
        "baseline_carrier_hour_roc_auc",
        "baseline_base_rate_log_loss",
        "drift_max_psi",
    ):
        assert np.isfinite(m[key]), key
    assert m["test_roc_auc"] > 0.6
    assert m["test_log_loss"] < m["baseline_base_rate_log_loss"]
    assert set(ev.segments["segment"]) == {"carrier", "origin", "month"}
    assert set(ev.drift["feature"]) == set(ts.spec.feature_names)
    assert all(png.startswith(PNG) for png in ev.plots.values())
    assert set(ev.plots) == {"roc.png", "pr.png", "calibration.png", "importance.png"}
    history = ts.frame[ts.frame["split"] != "test"]
    assert set(ev.baseline.carrier) == set(history["carrier"].unique())
    assert m["boosting_rounds"] >= 1  # shipped model: refit on train+validation


def test_threshold_meets_the_goal_on_validation(conn, windows, train_settings) -> None:
    settings = train_settings.replace(training={"refit_on_validation": False})
    ts = select_training_set(conn, windows)
    model = train_model(ts, settings, trials=0, seed=3)
    ev = model.evaluation
    assert ev.threshold_goal and 0.0 < ev.threshold < 1.0
    # the threshold meets the stated goal on validation when the goal is reachable
    if ev.threshold_rule == "recall_at_precision":
        p = predict(model.booster, ts.spec, ts.part(VALIDATION))
        flagged = p >= ev.threshold
        precision = ts.label(VALIDATION)[flagged].mean()
        assert precision >= train_settings.training.threshold_min_precision - 1e-9
