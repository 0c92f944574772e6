"""The day's new measures, by hand: confidence, class balance, business cost, availability."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlsys_assets.business_cost import CostModel
from mlsys_assets.monitoring import measures
from mlsys_assets.monitoring.segments import _auc, dispersion, holm


def _answers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "variant": ["champion", "champion", "challenger", "shadow"],
            "score": [0.9, 0.52, 0.1, 0.48],
            "threshold": [0.5] * 4,
            "decision": [True, True, False, False],
            "calibrated": [0.8, 0.5, 0.1, 0.5],
            "label": [1.0, 0.0, np.nan, 1.0],
        }
    )


def test_confidence_counts_answers_near_the_threshold() -> None:
    table = measures.confidence(_answers(), band=0.05).set_index("variant")
    assert table.loc["all", "n"] == 3  # what clients were told: the shadow score is apart
    assert table.loc["all", "near_threshold_share"] == pytest.approx(1 / 3)  # .52
    assert table.loc["shadow", "near_threshold_share"] == pytest.approx(1.0)  # .48
    assert table.loc["champion", "n"] == 2
    assert sum(eval(table.loc["all", "histogram"])) == 3  # noqa: S307 - a JSON list


def test_class_balance_sets_predicted_against_realised_and_training() -> None:
    table = measures.class_balance(_answers(), training_rate=0.2).set_index("variant")
    assert table.loc["all", "predicted_positive_rate"] == pytest.approx(2 / 3)
    assert table.loc["all", "realised_delay_rate"] == pytest.approx(0.5)
    assert table.loc["all", "expected_delay_rate"] == pytest.approx(1.4 / 3)
    assert table.loc["all", "training_delay_rate"] == pytest.approx(0.2)
    assert pd.isna(table.loc["challenger", "realised_delay_rate"])  # no label yet


def test_business_cost_per_variant_shadow_included() -> None:
    table = measures.business_cost(_answers(), CostModel(50, 10)).set_index("variant")
    # champion: a hit and a false alarm (10); shadow: a missed delay (50), never told anyone
    assert table.loc["champion", "realised_cost"] == pytest.approx(10)
    assert table.loc["shadow", "realised_cost"] == pytest.approx(50)
    assert table.loc["all", "missed_delays"] == 0 and table.loc["all", "false_alarms"] == 1
    # expected before labels: champion .2x10 + .5x10, challenger .1x50 (shadow .5x50 apart)
    assert table.loc["all", "expected_cost"] == pytest.approx(2 + 5 + 5)
    assert table.loc["shadow", "expected_cost"] == pytest.approx(25)
    assert pd.isna(table.loc["challenger", "realised_cost"])


def test_the_error_budget_left_over_the_window() -> None:
    log = pd.DataFrame(
        {
            "latency_ms": [5.0] * 990 + [500.0] * 10,
            "fallbacks": [[]] * 998 + [["champion_failed"]] * 2,
            "variant": ["champion"] * 1000,
        }
    )
    history = pd.DataFrame({"requests": [1000], "failed": [0], "slow": [0]})
    row = measures.availability(log, history, objective=0.999, latency_p99_ms=100.0)
    assert row["availability"] == pytest.approx(0.998)
    # 2 failures of the 0.001 x 2000 = 2 allowed over the window: the budget is spent
    assert row["error_budget_left"] == pytest.approx(0.0)
    # 10 slow of the 1% x 2000 = 20 allowed: half the latency budget left
    assert row["latency_budget_left"] == pytest.approx(0.5)
    assert row["fallback_share"] == pytest.approx(0.002)


def test_holm_and_dispersion_by_hand() -> None:
    adjusted = holm(np.array([0.01, 0.04, np.nan, 0.03]))
    assert adjusted[0] == pytest.approx(0.03)  # 3 x .01
    assert adjusted[3] == pytest.approx(0.06)  # max(.03, 2 x .03)
    assert adjusted[1] == pytest.approx(0.06)  # max(.06, 1 x .04)
    assert np.isnan(adjusted[2])
    assert dispersion(np.array([3.0, -3.0] * 5), min_values=10) == pytest.approx(9.0)
    assert dispersion(np.array([0.1] * 10), min_values=10) == 1.0  # never narrower
    assert np.isnan(dispersion(np.array([1.0]), min_values=10))


def test_the_fast_auc_is_scikit_learns() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    y = (rng.random(500) < 0.3).astype(float)
    s = np.round(rng.random(500), 2)  # ties
    w = rng.random(500)
    assert _auc(y, s) == pytest.approx(roc_auc_score(y, s))
    assert _auc(y, s, w) == pytest.approx(roc_auc_score(y, s, sample_weight=w))
