"""The paired sequential verdict on simulated shadow traffic: 200 runs per case.

Each run is a fresh stream of flights whose delay depends on a hidden risk; each model sees the
risk through its own noise (more noise: a worse model), scored on the same flights as shadow
scoring gives them. The verdict is looked at as the labels arrive and must end right: a clearly
worse challenger rolled back, a clearly better one promoted, and two equally good models ending
in "keep the champion" (not a promotion by noise) in at least 95% of the runs.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mlsys_assets.business_cost import CostModel
from mlsys_assets.registry.verdict import (
    KEEP,
    PROMOTE,
    ROLLBACK,
    WAIT,
    VerdictRule,
    delong_paired,
    judge,
)

RULE = VerdictRule(alpha=0.05, margin=0.005, first_look=300, max_labelled=9600)
RUNS = 200


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _traffic(rng: np.random.Generator, n: int, noise_champion: float, noise_challenger: float):
    risk = rng.normal(size=n)
    label = (rng.random(n) < _expit(-1.4 + 1.2 * risk)).astype(float)
    shared = rng.normal(size=n) * 0.3  # what both models miss alike (same features)
    champion = _expit(-1.4 + 1.2 * (risk + shared + rng.normal(size=n) * noise_champion))
    challenger = _expit(-1.4 + 1.2 * (risk + shared + rng.normal(size=n) * noise_challenger))
    return label, champion, challenger


def _decisions(noise_champion: float, noise_challenger: float, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(RUNS):
        label, champion, challenger = _traffic(
            rng, RULE.max_labelled, noise_champion, noise_challenger
        )
        out.append(judge(label, champion, challenger, RULE).decision)
    return out


def test_delong_matches_the_auc_and_shrinks_with_more_flights() -> None:
    rng = np.random.default_rng(1)
    label, a, b = _traffic(rng, 4000, 0.5, 0.8)
    auc_a, auc_b, var = delong_paired(label, a, b)
    assert auc_a == pytest.approx(roc_auc_score(label, a))
    assert auc_b == pytest.approx(roc_auc_score(label, b))
    _, _, var_small = delong_paired(label[:1000], a[:1000], b[:1000])
    assert var < var_small / 2  # about a quarter with four times the flights


def test_the_pairs_variance_is_smaller_than_the_variance_of_two_independent_aucs() -> None:
    rng = np.random.default_rng(2)
    label, a, b = _traffic(rng, 4000, 0.5, 0.5)
    _, _, var_paired = delong_paired(label, a, b)
    _, _, var_a = delong_paired(label, a, a * 0 + rng.random(len(a)))  # a vs noise: var(a) + var
    assert var_paired < var_a


def test_a_clearly_worse_challenger_is_rolled_back_with_its_interval() -> None:
    decisions = _decisions(noise_champion=0.5, noise_challenger=1.0, seed=11)
    assert decisions.count(ROLLBACK) >= 0.95 * RUNS
    label, champion, challenger = _traffic(np.random.default_rng(5), 9600, 0.5, 1.0)
    verdict = judge(label, champion, challenger, RULE)
    assert verdict.decision == ROLLBACK
    assert verdict.auc_high is not None and verdict.auc_high < 0
    assert verdict.auc_low is not None and verdict.auc_low < verdict.auc_diff < verdict.auc_high
    assert verdict.n in RULE.looks() and verdict.n < RULE.max_labelled  # decided early
    assert "Bonferroni" in verdict.rule and verdict.interval in verdict.reason


def test_a_clearly_better_challenger_is_promoted() -> None:
    decisions = _decisions(noise_champion=1.0, noise_challenger=0.5, seed=12)
    assert decisions.count(PROMOTE) >= 0.95 * RUNS


def test_two_equally_good_models_keep_the_champion_after_the_maximum_wait() -> None:
    decisions = _decisions(noise_champion=0.6, noise_challenger=0.6, seed=13)
    counts = {d: decisions.count(d) for d in set(decisions)}
    # The champion stays (kept at the maximum wait, or the challenger rolled back) in >= 95%:
    # the rule's error rate is at most alpha = 5% over all looks, about 3% in fact (Bonferroni
    # over correlated looks); a promotion by noise is at most alpha / 2.
    assert counts.get(PROMOTE, 0) <= 0.05 * RUNS, counts
    assert counts.get(KEEP, 0) >= 0.9 * RUNS, counts


def test_before_the_maximum_wait_an_undecided_verdict_waits_for_the_next_look() -> None:
    label, champion, challenger = _traffic(np.random.default_rng(3), 2000, 0.6, 0.6)
    verdict = judge(label, champion, challenger, RULE)
    assert verdict.decision == WAIT
    assert verdict.n == 1200 and verdict.available == 2000
    assert "next look at 2400" in verdict.reason
    assert judge(label[:100], champion[:100], challenger[:100], RULE).look == 0


def test_the_verdict_reports_the_cost_difference_beside_the_metric() -> None:
    label, champion, challenger = _traffic(np.random.default_rng(4), 9600, 1.0, 0.5)
    cost = CostModel(missed_delay=50, false_alarm=10)
    threshold = cost.optimal_threshold
    verdict = judge(
        label,
        champion,
        challenger,
        RULE,
        decided_champion=champion >= threshold,
        decided_challenger=challenger >= threshold,
        cost=cost,
    )
    n = verdict.n
    expected = (
        cost.realised(label[:n], challenger[:n] >= threshold)
        - cost.realised(label[:n], champion[:n] >= threshold)
    ).mean()
    assert verdict.cost_diff == pytest.approx(expected)
    assert verdict.cost_diff < 0  # the better model costs less
    assert verdict.log_loss_diff is not None and verdict.log_loss_diff < 0


def test_the_looks_double_up_to_the_maximum_wait() -> None:
    assert RULE.looks() == [300, 600, 1200, 2400, 4800, 9600]
    assert VerdictRule(first_look=300, max_labelled=1000).looks() == [300, 600, 1000]
    assert 2.6 < RULE.z < 2.7
