"""Performance before labels (CBPE): the estimate from confidence matches what labels later show."""

from __future__ import annotations

import numpy as np
import pytest

from mlsys_assets.monitoring.performance import binary_metrics, estimate_performance


def test_two_flights_by_hand() -> None:
    # Scores .9 and .2 at threshold .5: expected TP .9 of 1 predicted positive, 1.1 expected
    # positives; AUC over weighted pairs = (.9*.8 + .5*.9*.1 + .5*.2*.8) / (1.1*.9).
    estimate = estimate_performance(np.array([0.9, 0.2]), 0.5)
    assert estimate["est_precision"] == pytest.approx(0.9)
    assert estimate["est_recall"] == pytest.approx(0.9 / 1.1)
    assert estimate["est_roc_auc"] == pytest.approx((0.72 + 0.045 + 0.08) / 0.99)
    assert estimate["est_positive_rate"] == pytest.approx(0.55)


def test_a_calibrated_model_is_estimated_before_its_labels() -> None:
    rng = np.random.default_rng(7)
    scores = rng.beta(2, 5, size=20_000)
    labels = (rng.random(scores.size) < scores).astype(float)  # outcomes drawn from the scores
    estimate = estimate_performance(scores, 0.4)
    realised = binary_metrics(labels, scores, 0.4)
    assert estimate["est_precision"] == pytest.approx(realised["precision"], abs=0.02)
    assert estimate["est_recall"] == pytest.approx(realised["recall"], abs=0.02)
    assert estimate["est_roc_auc"] == pytest.approx(realised["roc_auc"], abs=0.02)
