"""The paired, sequential canary verdict: both models on the same flights, checked as labels land.

Why paired. Shadow scoring gives the challenger's probability for every flight the champion
answered, so the two models are compared on the *same* flights. Their scores are strongly
correlated (same features, neighbouring training windows), and the variance of the difference
of two correlated AUCs is var(a) + var(b) - 2 cov(a, b): on this data a few times smaller than
the unpaired comparison of two disjoint traffic shares, which also pays the noise of the
flights themselves (a busy stormy day in one share and not the other).

Why DeLong, not the bootstrap. The decision is on the difference in ROC AUC (the metric of the
gate, of today's canary rule and of the backtest's truth). DeLong's variance of a paired AUC
difference is the exact variance of the two U-statistics' Hoeffding projection: asymptotically
what a paired bootstrap estimates, in one sort (O(n log n)) instead of thousands of resamples per
look, and deterministic, so a verdict recorded in the registry is reproduced bit for bit from the
log. The log-loss and business-cost differences are means of per-flight paired differences; their
intervals are the same look's normal intervals (reported beside the AUC, not decided on).

Why this sequential rule. Labels arrive day by day and the verdict is looked at each time; a
fixed-sample interval checked at every look would cross a boundary by chance far more often than
alpha. The looks are a fixed schedule of labelled-pair counts, doubling from
``first_look`` (the canary's minimum) to ``max_labelled`` (the maximum wait), and alpha is split
equally over them (Bonferroni alpha spending): each look's interval has level 1 - alpha/K, so
the probability that the true difference leaves the interval at *any* look is at most alpha
whatever the correlation between looks, with no numerical integration of group-sequential
boundaries. Doubling keeps K small (300 -> 9,600 pairs: 6 looks, z = 2.64 instead of 1.96), and
unlike O'Brien-Fleming spending it does not make the first looks nearly impossible to pass: a
clearly better or worse model is decided on its first day. The verdict is a pure function of the
pairs in arrival order (each look uses the first n of them), so rerunning it on a longer log
replays the earlier looks exactly: no state between runs.

Decisions, all statements about the simultaneous interval of the AUC difference
(challenger - champion), so all are right together with probability >= 1 - alpha:
- ``rollback``: the interval lies below 0 (worse, with confidence);
- ``promote``: the interval lies above 0 (better, with confidence);
- ``keep``: the interval lies inside (-margin, +margin) (no difference worth a change), or the
  maximum wait is reached: the champion stays;
- ``wait``: none of these yet.
Equal models are therefore never promoted by noise (at most alpha/2 of the time): a challenger
that is merely "not worse by more than the margin" does not replace a champion that is as good.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd

from mlsys_assets.business_cost import CostModel

PROMOTE, ROLLBACK, KEEP, WAIT = "promote", "rollback", "keep", "wait"
EPS = 1e-6


@dataclass(frozen=True)
class VerdictRule:
    """The sequential rule: error rate, indifference margin (AUC), first look, maximum wait."""

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

    def looks(self) -> list[int]:
        """Labelled-pair counts at which the verdict is checked: doubling, ending at the max."""
        out, n = [], max(1, self.first_look)
        while n < self.max_labelled:
            out.append(n)
            n *= 2
        out.append(max(self.max_labelled, 1))
        return out

    @property
    def z(self) -> float:
        """The half-width multiplier of each look's two-sided interval (level 1 - alpha/K)."""
        return NormalDist().inv_cdf(1.0 - self.alpha / (2 * len(self.looks())))

    def describe(self) -> str:
        looks = self.looks()
        return (
            f"paired DeLong on ROC AUC, Bonferroni alpha spending: alpha {self.alpha} over "
            f"{len(looks)} looks at {'/'.join(map(str, looks))} labelled pairs "
            f"(z {self.z:.2f}), margin {self.margin}"
        )


@dataclass(frozen=True)
class PairedVerdict:
    """The verdict at its deciding look (or the latest look while waiting), with its numbers."""

    decision: str
    reason: str
    n: int  # labelled pairs the deciding look used
    available: int  # labelled pairs available
    look: int  # 1-based index of the look (0: no look yet)
    looks: int
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
    confidence: float | None = None  # each look's interval level
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


def _mean_interval(d: np.ndarray, z: float) -> tuple[float, float, float]:
    mean = float(d.mean())
    half = z * float(d.std(ddof=1)) / math.sqrt(len(d)) if len(d) > 1 else math.inf
    return mean, mean - half, mean + half


def judge(
    label: np.ndarray,
    p_champion: np.ndarray,
    p_challenger: np.ndarray,
    rule: VerdictRule,
    *,
    decided_champion: np.ndarray | None = None,
    decided_challenger: np.ndarray | None = None,
    cost: CostModel | None = None,
) -> PairedVerdict:
    """The verdict on labelled pairs in arrival order (both models' probabilities per flight).

    ``decided_*`` are each model's delay decisions (0/1) for the business cost beside the metric;
    without them the cost is not reported.
    """
    y = np.asarray(label, dtype=float)
    a, b = np.asarray(p_champion, dtype=float), np.asarray(p_challenger, dtype=float)
    if not (len(y) == len(a) == len(b)):
        raise ValueError("labels and both models' probabilities must be pairs")
    looks, z = rule.looks(), rule.z
    confidence = 1.0 - rule.alpha / len(looks)
    base = {"available": len(y), "looks": len(looks), "rule": rule.describe()}
    costs = None
    if decided_champion is not None and decided_challenger is not None:
        cost = cost or CostModel()
        costs = cost.realised(y, decided_challenger) - cost.realised(y, decided_champion)
    latest: PairedVerdict | None = None
    for index, n in enumerate(looks, start=1):
        if len(y) < n:
            break
        yk = y[:n]
        if yk.min() == yk.max():
            continue  # one class only so far: AUC undefined at this look
        auc_a, auc_b, var = delong_paired(yk, a[:n], b[:n])
        diff, half = auc_b - auc_a, z * math.sqrt(var)
        low, high = diff - half, diff + half
        ll, ll_low, ll_high = _mean_interval(_log_loss(yk, b[:n]) - _log_loss(yk, a[:n]), z)
        numbers: dict[str, object] = {
            "n": n, "look": index, "auc_champion": auc_a, "auc_challenger": auc_b,
            "auc_diff": diff, "auc_low": low, "auc_high": high, "log_loss_diff": ll,
            "log_loss_low": ll_low, "log_loss_high": ll_high, "confidence": confidence,
        }  # fmt: skip
        if costs is not None:
            c, c_low, c_high = _mean_interval(costs[:n], z)
            numbers.update(cost_diff=c, cost_low=c_low, cost_high=c_high)
        said = (
            f"AUC difference {diff:+.4f} in [{low:+.4f}, {high:+.4f}] "
            f"({confidence:.2%} at look {index}/{len(looks)}, n={n})"
        )
        if high < 0:
            decision, reason = ROLLBACK, f"challenger worse: {said}"
        elif low > 0:
            decision, reason = PROMOTE, f"challenger better: {said}"
        elif rule.margin > 0 and -rule.margin < low and high < rule.margin:
            decision, reason = KEEP, f"no difference beyond the margin {rule.margin}: {said}"
        elif index == len(looks):
            decision, reason = KEEP, f"maximum wait reached, no confident difference: {said}"
        else:
            decision, reason = WAIT, f"undecided: {said}"
        latest = PairedVerdict(decision=decision, reason=reason, **base, **numbers)  # type: ignore[arg-type]
        if decision != WAIT:
            return latest
    if latest is not None:
        nxt = next((n for n in looks if n > latest.n), None)
        return PairedVerdict(
            **{**latest.as_dict(), "reason": f"{latest.reason}; next look at {nxt} pairs"}
        )
    return PairedVerdict(
        decision=WAIT,
        reason=f"{len(y)} of {looks[0]} labelled shadow pairs (or one class only)",
        n=0,
        look=0,
        **base,  # type: ignore[arg-type]
    )


def _ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank), as ``scipy.stats.rankdata``: pandas is
    loaded anyway, and scipy.stats would add a second to every Dagster process's start."""
    return pd.Series(values).rank(method="average").to_numpy()
