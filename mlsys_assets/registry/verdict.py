"""The paired, sequential canary verdict: both models on the same flights, checked as labels land.

Why paired. Shadow scoring gives the challenger's probability for every flight the champion
answered, so the two models are compared on the *same* flights: the flights' own noise (a busy
stormy day in one traffic share and not the other) cancels in each flight's difference.

Why the decision is on the log loss. The verdict decides on the mean per-flight difference in log
loss (challenger - champion) and reports the ROC AUC difference (DeLong's paired variance) and
the business cost beside it. The log loss is a proper scoring rule of the probabilities serving
acts on (the delay decision is a threshold on them, the cost estimates before labels are their
expectations), so a model with lower expected log loss is the better one for what the system
does with it. Its per-flight paired differences are a plain mean of nearly independent terms, so
its interval is a mean's, and it is several times more decisive than the AUC difference, a
difference of two rank statistics in which every flight counts only through its rank among the
others: in the year's backtest the z-score of the log-loss difference after one or two days was
typically 2-5 times that of the AUC difference on the same pairs; over its 29 challengers the
AUC verdict (doubling Bonferroni looks) was right on 15 of the 18 beyond the margin after a
median of 6 labelled days, this one on 17 after 3. The AUC still guards the promotion: a challenger
whose log loss is better but whose AUC at that look is below the champion's by more than
``margin`` (better calibrated, worse at ranking) is not promoted on it; the verdict waits.

Why a confidence sequence. Labels arrive day by day and the verdict is looked at each time; a
fixed-sample interval checked at every look would cross a boundary by chance far more often than
alpha. The interval is an asymptotic confidence sequence (Waudby-Smith, Arbour, Sinha, Kennedy &
Ramdas, "Time-uniform central limit theory and asymptotic confidence sequences", Ann. Statist.
2024): Robbins' normal-mixture boundary with the running variance,
``mean +- sd/sqrt(n) * sqrt((n r2 + 1)/(n r2) * 2 log(sqrt(n r2 + 1)/alpha))``, holds at *every*
n at once with probability >= 1 - alpha, so the verdict may look after every labelled batch (a
day's outcomes), however many there are and however their sizes vary, with no schedule fixed in
advance. ``r2`` places the boundary's tightest point at ``tightest_at`` pairs, the geometric
middle of the window the verdict looks in (``first_look`` to ``max_labelled``); the width varies
little around it (x3.0 to x3.3 a standard error over a 16-fold range of n; the backtest's verdicts
are the same for 1,000, 2,000 or 4,000). Against the doubling Bonferroni looks it replaces (z 2.64
at 300/600/.../9,600 pairs only) each look is a little wider, but a verdict no longer waits for
the next doubling: looks at 4,800 and 9,600 pairs were day 6 and day 11. Group-sequential
spending with O'Brien-Fleming looks was not taken: it makes the first days' looks nearly
impossible to pass, and the point is to decide a clear case on its first day.

Why looks at the end of a batch only. Within a day the pairs are ordered by departure, and the
first n pairs of a day are its mornings, a population of their own that the live verdict never
sees alone (a day's outcomes land together). ``judge`` therefore looks at batch ends (``batches``:
the flight day of each pair); without them each pair is its own batch (simulated streams).

What it does not cover. The sequence treats the pairs as independent; a day's flights share
its weather and its operations, so a verdict on the first day's labels is also one draw of the
day. The backtest's one miss is that: a challenger much better over 30 days and much worse, by
both metrics, on its first day. Waiting for a second day before any decision does not remove
it: the miss moves to a late challenger with a single labelled day (17 of 18 either way, median 3
days); a variance clustered by day (the principled fix for shared weather) decides later and
gets fewer right within the horizon (12 of 18, median 8 days). The README's backtest section
has the table of variants; none is the default.

Decisions, all statements about the confidence sequence of the log-loss difference
(challenger - champion), right together with probability >= 1 - alpha at every look:
- ``rollback``: the interval lies above 0 (the challenger's loss is higher, with confidence);
- ``promote``: the interval lies below 0 (lower loss, with confidence) and the AUC difference at
  that look is not below ``-margin``;
- ``keep``: the maximum wait is reached without either: the champion stays;
- ``wait``: none of these yet.
Equal models are therefore rarely promoted by noise (at most alpha, about alpha/2 by symmetry;
1.2% of 1,000 simulated runs with daily looks, 3.4% looking after every pair). The verdict is a
pure function of the pairs in arrival order and their batches (each look uses the first n), so
rerunning it on a longer log replays the earlier looks exactly: no state between runs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from mlsys_assets.business_cost import CostModel

PROMOTE, ROLLBACK, KEEP, WAIT = "promote", "rollback", "keep", "wait"
EPS = 1e-6


@dataclass(frozen=True)
class VerdictRule:
    """The sequential rule: error rate, AUC guard margin, first look, maximum wait."""

    alpha: float = 0.05
    margin: float = 0.005
    first_look: int = 300
    max_labelled: int = 9600

    @classmethod
    def from_settings(cls, settings) -> VerdictRule:
        return cls(
            alpha=settings.loop.canary_verdict_alpha,
            margin=settings.loop.canary_verdict_margin,
            first_look=settings.loop.canary_min_labelled,
            max_labelled=settings.loop.canary_max_labelled,
        )

    @property
    def tightest_at(self) -> int:
        """Pairs at which the confidence sequence is narrowest relative to a standard error."""
        return max(2, round(math.sqrt(max(self.first_look, 2) * max(self.max_labelled, 2))))

    def multiplier(self, n: np.ndarray | int) -> np.ndarray:
        """Half-width of the confidence sequence at ``n`` pairs, in standard errors of the mean."""
        log_alpha = math.log(1.0 / self.alpha)
        r2 = (2 * log_alpha + math.log(2 * log_alpha + 1)) / self.tightest_at
        nr2 = np.asarray(n, dtype=float) * r2
        return np.sqrt((nr2 + 1) / nr2 * 2 * np.log(np.sqrt(nr2 + 1) / self.alpha))

    def looks(self, batch_ends: np.ndarray) -> np.ndarray:
        """The pair counts looked at: every batch end from ``first_look`` on, before the
        maximum wait, then the maximum wait itself once that many pairs are labelled."""
        ends = np.asarray(batch_ends, dtype=np.int64)
        first, last = max(2, self.first_look), max(2, self.max_labelled)
        out = ends[(ends >= first) & (ends < last)]
        if len(ends) and ends[-1] >= last:
            out = np.append(out, last)
        return out

    def describe(self) -> str:
        return (
            f"paired log loss, asymptotic confidence sequence (normal mixture, valid at every "
            f"look): alpha {self.alpha} at each labelled batch from {self.first_look} to "
            f"{self.max_labelled} pairs (tightest at {self.tightest_at}: "
            f"{float(self.multiplier(self.tightest_at)):.2f} standard errors), promotion only "
            f"if the AUC difference is above -{self.margin}"
        )


@dataclass(frozen=True)
class PairedVerdict:
    """The verdict at its deciding look (or the latest look while waiting), with its numbers.

    The ``auc_*`` interval (the one recorded as the version's ``canary_interval``) and the cost
    interval are the same confidence sequence's, at the same look, as the log loss's that decides.
    """

    decision: str
    reason: str
    n: int  # labelled pairs the deciding look used
    available: int  # labelled pairs available
    look: int  # 1-based index of the look (0: no look yet)
    looks: int  # looks made so far
    auc_champion: float | None = None
    auc_challenger: float | None = None
    auc_diff: float | None = None
    auc_low: float | None = None
    auc_high: float | None = None
    log_loss_diff: float | None = None
    log_loss_low: float | None = None
    log_loss_high: float | None = None
    cost_diff: float | None = None  # realised cost per flight, challenger - champion
    cost_low: float | None = None
    cost_high: float | None = None
    confidence: float | None = None  # the confidence sequence's level (all looks at once)
    rule: str = ""

    @property
    def interval(self) -> str:
        if self.auc_low is None or self.auc_high is None:
            return ""
        return f"[{self.auc_low:+.4f}, {self.auc_high:+.4f}]"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def delong_paired(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """ROC AUC of scores ``a`` and ``b`` on the same labels, and the variance of AUC(b) - AUC(a).

    DeLong, DeLong & Clarke-Pearson (1988) with the midrank computation of Sun & Xu (2014).
    """
    y = np.asarray(y, dtype=bool)
    m, n = int(y.sum()), int((~y).sum())
    if m == 0 or n == 0:
        raise ValueError("both classes are needed")
    v_pos, v_neg, aucs = [], [], []
    for s in (np.asarray(a, dtype=float), np.asarray(b, dtype=float)):
        pos, neg = s[y], s[~y]
        rank_all = _ranks(np.concatenate([pos, neg]))
        rank_pos, rank_neg = _ranks(pos), _ranks(neg)
        aucs.append((rank_all[:m].sum() - m * (m + 1) / 2) / (m * n))
        v_pos.append((rank_all[:m] - rank_pos) / n)  # share of negatives below each positive
        v_neg.append(1.0 - (rank_all[m:] - rank_neg) / m)  # share of positives above each negative
    s_pos = np.cov(np.vstack(v_pos)) if m > 1 else np.zeros((2, 2))
    s_neg = np.cov(np.vstack(v_neg)) if n > 1 else np.zeros((2, 2))
    cov = s_pos / m + s_neg / n
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    return float(aucs[0]), float(aucs[1]), max(var, 0.0)


def _log_loss(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def _running(d: np.ndarray, looks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error of the mean of ``d[:n]`` for every ``n`` in ``looks``."""
    total, squares = np.cumsum(d)[looks - 1], np.cumsum(d * d)[looks - 1]
    mean = total / looks
    var = np.maximum(squares - looks * mean * mean, 0.0) / np.maximum(looks - 1, 1)
    return mean, np.sqrt(var / looks)


def batch_ends(count: int, batches: np.ndarray | None) -> np.ndarray:
    """Pair counts at which a batch of labels is complete (every pair without batches)."""
    if batches is None:
        return np.arange(1, count + 1)
    keys = np.asarray(batches)
    if len(keys) != count:
        raise ValueError("one batch key per pair")
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    changes = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    return np.append(changes, count)


def judge(
    label: np.ndarray,
    p_champion: np.ndarray,
    p_challenger: np.ndarray,
    rule: VerdictRule,
    *,
    batches: np.ndarray | None = None,
    decided_champion: np.ndarray | None = None,
    decided_challenger: np.ndarray | None = None,
    cost: CostModel | None = None,
) -> PairedVerdict:
    """The verdict on labelled pairs in arrival order (both models' probabilities per flight).

    ``batches`` names the batch each pair's label arrived in (the flight day: a day's outcomes
    land together), in arrival order; the verdict looks at each batch's end. Without it every
    pair is a batch (a simulated stream): the most looks possible, each one a promotion candidate
    costing a DeLong for the AUC guard. ``decided_*`` are
    each model's delay decisions (0/1) for the business cost beside the metric; without them the
    cost is not reported.
    """
    y = np.asarray(label, dtype=float)
    a, b = np.asarray(p_champion, dtype=float), np.asarray(p_challenger, dtype=float)
    if not (len(y) == len(a) == len(b)):
        raise ValueError("labels and both models' probabilities must be pairs")
    looks = rule.looks(batch_ends(len(y), batches))
    base = {"available": len(y), "rule": rule.describe(), "confidence": 1.0 - rule.alpha}
    if not len(looks):
        return PairedVerdict(
            decision=WAIT,
            reason=f"{len(y)} of {rule.first_look} labelled shadow pairs",
            n=0, look=0, looks=0, **base,  # type: ignore[arg-type]
        )  # fmt: skip
    loss = _log_loss(y, b) - _log_loss(y, a)
    mean, se = _running(loss, looks)
    half = rule.multiplier(looks) * se
    low, high = mean - half, mean + half
    at, decision = len(looks) - 1, WAIT
    for index in np.flatnonzero((low > 0) | (high < 0)):
        if low[index] > 0:
            at, decision = int(index), ROLLBACK
            break
        auc = _auc_diff(y, a, b, int(looks[index]))
        if auc is not None and auc[1] - auc[0] >= -rule.margin:
            at, decision = int(index), PROMOTE
            break
    n = int(looks[at])
    if decision == WAIT and n >= rule.max_labelled:
        decision = KEEP
    z = float(rule.multiplier(n))
    numbers: dict[str, object] = {
        "n": n, "look": at + 1, "looks": at + 1 if decision != WAIT else len(looks),
        "log_loss_diff": float(mean[at]), "log_loss_low": float(low[at]),
        "log_loss_high": float(high[at]),
    }  # fmt: skip
    auc = _auc_diff(y, a, b, n)
    if auc is not None:
        auc_a, auc_b, var = auc
        diff, width = auc_b - auc_a, z * math.sqrt(var)
        numbers |= {
            "auc_champion": auc_a, "auc_challenger": auc_b, "auc_diff": diff,
            "auc_low": diff - width, "auc_high": diff + width,
        }  # fmt: skip
    if decided_champion is not None and decided_challenger is not None:
        cost = cost or CostModel()
        costs = cost.realised(y[:n], decided_challenger[:n]) - cost.realised(
            y[:n], decided_champion[:n]
        )
        c_mean, c_se = _running(costs, np.array([n]))
        numbers |= {
            "cost_diff": float(c_mean[0]), "cost_low": float(c_mean[0] - z * c_se[0]),
            "cost_high": float(c_mean[0] + z * c_se[0]),
        }  # fmt: skip
    said = (
        f"log loss difference {mean[at]:+.4f} in [{low[at]:+.4f}, {high[at]:+.4f}] "
        f"({1 - rule.alpha:.0%} confidence sequence, look {at + 1} at n={n})"
    )
    if auc is not None:
        said += f"; AUC difference {numbers['auc_diff']:+.4f} in {_interval(numbers)}"
    reason = {
        ROLLBACK: f"challenger worse: {said}",
        PROMOTE: f"challenger better: {said}",
        KEEP: f"maximum wait reached, no confident difference: {said}",
        WAIT: f"undecided: {said}",
    }[decision]
    if decision == WAIT and high[at] < 0:
        reason = f"lower log loss but AUC below the champion's by more than {rule.margin}: {said}"
    if decision == WAIT:
        reason += "; next look at the next labelled batch"
    return PairedVerdict(decision=decision, reason=reason, **base, **numbers)  # type: ignore[arg-type]


def _interval(numbers: dict[str, object]) -> str:
    return f"[{numbers['auc_low']:+.4f}, {numbers['auc_high']:+.4f}]"


def _auc_diff(
    y: np.ndarray, a: np.ndarray, b: np.ndarray, n: int
) -> tuple[float, float, float] | None:
    """DeLong on the first ``n`` pairs, or None while they hold one class only."""
    if y[:n].min() == y[:n].max():
        return None
    return delong_paired(y[:n], a[:n], b[:n])


def _ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank), as ``scipy.stats.rankdata``: pandas is
    loaded anyway, and scipy.stats would add a second to every Dagster process's start."""
    return pd.Series(values).rank(method="average").to_numpy()
