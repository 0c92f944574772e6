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


DAYS = np.repeat(np.arange(11), 900)[: RULE.max_labelled]  # 900 labelled pairs a day


def _decisions(
    noise_champion: float, noise_challenger: float, seed: int, batches: np.ndarray | None = None
) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(RUNS):
        label, champion, challenger = _traffic(
            rng, RULE.max_labelled, noise_champion, noise_challenger
        )
        out.append(judge(label, champion, challenger, RULE, batches=batches).decision)
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
    assert verdict.log_loss_low is not None and verdict.log_loss_low > 0  # what decided
    assert verdict.auc_diff is not None and verdict.auc_diff < 0  # reported beside it
    assert verdict.auc_low is not None and verdict.auc_low < verdict.auc_diff < verdict.auc_high
    assert verdict.n < 1000  # decided on the first day's worth of pairs
    assert "confidence sequence" in verdict.rule and verdict.interval in verdict.reason


def test_a_clearly_better_challenger_is_promoted() -> None:
    decisions = _decisions(noise_champion=1.0, noise_challenger=0.5, seed=12)
    assert decisions.count(PROMOTE) >= 0.95 * RUNS


def test_two_equally_good_models_keep_the_champion_after_the_maximum_wait() -> None:
    # Looking after each day's labels, as the loop does: "keep" at the maximum wait in >= 95%.
    decisions = _decisions(noise_champion=0.6, noise_challenger=0.6, seed=13, batches=DAYS)
    counts = {d: decisions.count(d) for d in set(decisions)}
    assert counts.get(KEEP, 0) >= 0.95 * RUNS, counts
    assert counts.get(PROMOTE, 0) <= 0.05 * RUNS, counts


def test_looking_after_every_pair_still_keeps_the_error_rate_at_alpha() -> None:
    # The confidence sequence holds at every n at once: even a look after every pair (9,300
    # looks) leaves the champion in place (kept at the maximum wait, or the challenger rolled
    # back) in >= 95% of the runs, and a promotion by noise is rarer still (about alpha / 2).
    decisions = _decisions(noise_champion=0.6, noise_challenger=0.6, seed=13)
    counts = {d: decisions.count(d) for d in set(decisions)}
    assert counts.get(PROMOTE, 0) <= 0.05 * RUNS, counts
    assert counts.get(KEEP, 0) + counts.get(ROLLBACK, 0) >= 0.95 * RUNS, counts


def test_before_the_maximum_wait_an_undecided_verdict_waits_for_the_next_look() -> None:
    label, champion, challenger = _traffic(np.random.default_rng(3), 2000, 0.6, 0.6)
    verdict = judge(label, champion, challenger, RULE)
    assert verdict.decision == WAIT
    assert verdict.n == verdict.available == 2000
    assert verdict.log_loss_low is not None and verdict.log_loss_low < 0 < verdict.log_loss_high
    assert "next look at the next labelled batch" in verdict.reason
    assert judge(label[:100], champion[:100], challenger[:100], RULE).look == 0


def test_with_batches_the_verdict_looks_only_at_the_end_of_each_days_labels() -> None:
    label, champion, challenger = _traffic(np.random.default_rng(6), 9600, 0.5, 1.0)
    verdict = judge(label, champion, challenger, RULE, batches=DAYS)
    assert verdict.decision == ROLLBACK
    assert verdict.n == 900  # the first day's end, not the pair where the boundary was crossed
    assert judge(label, champion, challenger, RULE).n < 900  # looking after every pair


def test_a_better_calibrated_challenger_that_ranks_worse_is_not_promoted() -> None:
    rng = np.random.default_rng(7)
    label, champion, challenger = _traffic(rng, 9600, 0.5, 0.9)
    champion = _expit(np.log(champion / (1 - champion)) + 1.5)  # ranks better, badly calibrated
    verdict = judge(label, champion, challenger, RULE, batches=DAYS)
    assert verdict.log_loss_high is not None and verdict.log_loss_high < 0  # lower log loss
    assert verdict.auc_diff is not None and verdict.auc_diff < -RULE.margin
    assert verdict.decision == KEEP and verdict.n == RULE.max_labelled
    early = judge(label[:2700], champion[:2700], challenger[:2700], RULE, batches=DAYS[:2700])
    assert early.decision == WAIT and "AUC below the champion's" in early.reason


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


def test_the_looks_are_the_batch_ends_from_the_first_look_to_the_maximum_wait() -> None:
    ends = np.array([250, 900, 1800, 9000, 9900])
    assert RULE.looks(ends).tolist() == [900, 1800, 9000, 9600]
    assert RULE.looks(ends[:3]).tolist() == [900, 1800]


def test_the_confidence_sequence_is_a_few_standard_errors_wide_over_the_whole_window() -> None:
    widths = RULE.multiplier(np.array([RULE.first_look, RULE.tightest_at, RULE.max_labelled]))
    assert RULE.first_look < RULE.tightest_at < RULE.max_labelled
    assert 2.9 < widths.min() and widths.max() < 3.5  # about 3, never 1.96
