"""The canary verdicts' own accuracy: each challenger a policy trains, judged as it would be live.

For every retrain of a policy the model it replaces is the champion and the new one the
challenger. From the day the challenger would enter the canary, the labelled flights arrive day
by day (each day's outcomes at its end) and two procedures decide:

- **paired** (``registry/verdict.py``): shadow scoring gives both models' probabilities on every
  flight; the sequential test is looked at after each day's labels, up to its maximum wait;
- **unpaired** (the earlier rule): ``canary_share`` of the flights (a stable hash of the flight,
  as serving hashes the request id) are answered by the challenger, the rest by the champion;
  once the challenger has ``canary_min_labelled`` labelled answers, the ROC AUC of each
  variant's own share on those days decides against ``canary_margin``.

The truth is both models scored on all labelled flights of the ``TRUTH_DAYS`` days from the
canary's first day: better (AUC difference above the verdict margin), worse (below minus the
margin) or equal within the margin. A verdict is right when it promotes a better challenger or
does not promote a worse one (rollback or keep the champion); equal challengers have no wrong
answer and are reported apart. Days are the labelled days a verdict needed (its deciding day
counts); flights are the labelled flights it used (pairs, or both shares).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from mlsys_assets.backtest.engine import BacktestResult
from mlsys_assets.backtest.frame import DAY, PeriodFrame, labelled
from mlsys_assets.business_cost import CostModel
from mlsys_assets.monitoring.reference import LABEL
from mlsys_assets.registry.verdict import (
    KEEP,
    PROMOTE,
    ROLLBACK,
    WAIT,
    VerdictRule,
    batch_ends,
    judge,
)
from mlsys_assets.settings import Settings
from mlsys_assets.training import metrics
from mlsys_assets.training.evaluate import predict

TRUTH_DAYS = 30
BETTER, WORSE, EQUAL = "better", "worse", "equal"
_SCALE = float(2**64)


@dataclass(frozen=True)
class ChallengerVerdicts:
    """One challenger: the truth, and each procedure's verdict with what it took."""

    policy: str
    champion: dt.date  # data days name the models
    challenger: dt.date
    canary_from: dt.date
    truth_auc_diff: float
    truth: str  # better | worse | equal
    truth_flights: int
    truth_cost_diff: float  # realised cost per flight, challenger - champion, on the truth days
    paired: str
    paired_days: int
    paired_flights: int
    paired_low: float | None
    paired_high: float | None
    unpaired: str
    unpaired_days: int
    unpaired_flights: int

    @property
    def paired_right(self) -> bool | None:
        return _right(self.truth, self.paired)

    @property
    def unpaired_right(self) -> bool | None:
        return _right(self.truth, self.unpaired)

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out.update(paired_right=self.paired_right, unpaired_right=self.unpaired_right)
        return out


def _right(truth: str, decision: str) -> bool | None:
    if truth == BETTER:
        return decision == PROMOTE
    if truth == WORSE:
        return decision != PROMOTE
    return None  # within the margin: either verdict is fine


def _bucket(keys: pd.Series) -> np.ndarray:
    """A uniform, deterministic number in [0, 1) per flight (serving's rule, on the flight key)."""
    return np.array(
        [
            int.from_bytes(hashlib.blake2b(k.encode(), digest_size=8).digest(), "big") / _SCALE
            for k in keys
        ]
    )


def _auc(y: np.ndarray, p: np.ndarray) -> float | None:
    if len(y) == 0 or y.min() == y.max():
        return None
    return float(metrics.score(y, p)["roc_auc"])


def challengers(result: BacktestResult) -> list[tuple[str, dt.date, dt.date, dt.date]]:
    """``(policy, champion, challenger, canary_from)`` for every retrain after the first model."""
    out = []
    for run in result.runs.values():
        for r in run.retrains:
            if r.reason == "initial":
                continue
            before = r.serves_from - dt.timedelta(days=1)
            champion = run.served.get(before)
            if champion is None:  # the walk's first day: the initial model
                champion = run.retrains[0].data_day
            out.append((run.policy, champion, r.data_day, r.serves_from))
    return out


Scores = dict[tuple[dt.date, dt.date], np.ndarray]


def judge_challengers(
    result: BacktestResult,
    period: PeriodFrame,
    settings: Settings,
    cache: Scores | None = None,
) -> pd.DataFrame:
    """Every challenger's truth and both procedures' verdicts (one row per policy retrain).

    ``cache`` keeps each model's scores of a canary's truth window between calls (a sweep of
    the rule's settings scores nothing twice).
    """
    rule = VerdictRule.from_settings(settings)
    cost = CostModel.from_settings(settings)
    threshold = cost.optimal_threshold  # both models decide at the cost-optimal threshold
    rows = []
    cache = {} if cache is None else cache
    for policy, champion, challenger, first in challengers(result):
        last = min(first + dt.timedelta(days=TRUTH_DAYS - 1), period.end)
        frame = period.between(first, last)
        frame = frame[labelled(frame).to_numpy()]
        if frame.empty:
            continue
        scores = {}
        for model_day in (champion, challenger):
            key = (model_day, first)
            if key not in cache:
                model = result.models[model_day]
                cache[key] = predict(model.booster, model.spec, frame)
            scores[model_day] = cache[key]
        y = frame[LABEL].to_numpy(dtype=float)
        days = frame[DAY].to_numpy()
        a, b = scores[champion], scores[challenger]
        truth_diff = float((_auc(y, b) or np.nan) - (_auc(y, a) or np.nan))
        truth = (
            BETTER if truth_diff > rule.margin else WORSE if truth_diff < -rule.margin else EQUAL
        )
        truth_cost = float(
            (cost.realised(y, b >= threshold) - cost.realised(y, a >= threshold)).mean()
        )
        paired = _paired(y, a, b, days, rule)
        key = (
            frame["carrier"].astype(str)
            + ":"
            + frame["flight"].astype(str)
            + ":"
            + frame["origin"].astype(str)
            + ":"
            + frame[DAY].astype(str)
        )
        to_challenger = _bucket(key) < settings.loop.canary_share
        unpaired = _unpaired(y, a, b, days, to_challenger, settings)
        rows.append(
            ChallengerVerdicts(
                policy=policy,
                champion=champion,
                challenger=challenger,
                canary_from=first,
                truth_auc_diff=truth_diff,
                truth=truth,
                truth_flights=len(y),
                truth_cost_diff=truth_cost,
                **paired,
                **unpaired,
            ).as_dict()
        )
    return pd.DataFrame(rows)


def _paired(
    y: np.ndarray, a: np.ndarray, b: np.ndarray, days: np.ndarray, rule: VerdictRule
) -> dict[str, object]:
    """The sequential verdict as live: pairs in arrival order, a look after each day's labels.

    One call on the whole window gives what every daily call would: the verdict is a pure
    function of the pairs in order and looks only at the ends of the days it has, so its first
    decision is the one the live loop would have taken on that day, with those pairs."""
    verdict = judge(y, a, b, rule, batches=days)
    ends = batch_ends(len(days), days)  # the pair count at the end of each day, in order
    if verdict.decision == WAIT:  # the truth window ended before the maximum wait
        decision, n = KEEP, len(y)
    else:
        decision, n = verdict.decision, verdict.n
    return {
        "paired": decision,
        "paired_days": int(np.searchsorted(ends, n, side="left")) + 1,
        "paired_flights": n,
        "paired_low": verdict.log_loss_low,
        "paired_high": verdict.log_loss_high,
    }


def _unpaired(
    y: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    days: np.ndarray,
    to_challenger: np.ndarray,
    settings: Settings,
) -> dict[str, object]:
    """The earlier rule: each variant's own share, decided once the challenger has enough."""
    distinct = list(dict.fromkeys(days))
    for number, day in enumerate(distinct, start=1):
        upto = int(np.searchsorted(days, day, side="right"))
        mine = to_challenger[:upto]
        if mine.sum() < settings.loop.canary_min_labelled:
            continue
        auc_b = _auc(y[:upto][mine], b[:upto][mine])
        auc_a = _auc(y[:upto][~mine], a[:upto][~mine])
        if auc_a is None or auc_b is None:
            continue
        decision = PROMOTE if auc_b >= auc_a - settings.loop.canary_margin else ROLLBACK
        return {"unpaired": decision, "unpaired_days": number, "unpaired_flights": upto}
    return {"unpaired": KEEP, "unpaired_days": len(distinct), "unpaired_flights": len(y)}


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per policy (and ``all``): challengers, verdicts, how many right among those beyond the
    margin, median labelled days and flights, for each procedure side by side."""
    rows = []
    groups = [("all", table), *table.groupby("policy", sort=False)] if len(table) else []
    for policy, part in groups:
        decided = part[part["truth"] != EQUAL]
        row: dict[str, object] = {
            "policy": policy,
            "challengers": len(part),
            "beyond_margin": len(decided),
        }
        for rule in ("paired", "unpaired"):
            right = decided[f"{rule}_right"].astype(bool)
            counts = part[rule].value_counts()
            row |= {
                f"{rule}_promote": int(counts.get(PROMOTE, 0)),
                f"{rule}_rollback": int(counts.get(ROLLBACK, 0)),
                f"{rule}_keep": int(counts.get(KEEP, 0)),
                f"{rule}_right": int(right.sum()),
                f"{rule}_accuracy": float(right.mean()) if len(decided) else float("nan"),
                f"{rule}_median_days": float(part[f"{rule}_days"].median()),
                f"{rule}_median_flights": float(part[f"{rule}_flights"].median()),
            }
        rows.append(row)
    return pd.DataFrame(rows)


def closing_line(table: pd.DataFrame) -> dict[str, object]:
    """The command's last line: the new verdicts against today's rule, over every challenger."""
    total = summary(table)
    row = total.iloc[0] if len(total) else None

    def value(key: str) -> float | None:
        if row is None or pd.isna(row[key]):
            return None
        return round(float(row[key]), 4)

    return {
        "verdict_accuracy": value("paired_accuracy"),
        "median_labelled_days": value("paired_median_days"),
        "unpaired_verdict_accuracy": value("unpaired_accuracy"),
        "unpaired_median_labelled_days": value("unpaired_median_days"),
        "challengers": int(row["challengers"]) if row is not None else 0,
        "beyond_margin": int(row["beyond_margin"]) if row is not None else 0,
    }


def format_verdicts(table: pd.DataFrame) -> str:
    """Both procedures side by side, per policy and over all challengers."""
    total = summary(table)
    lines = [
        f"{'policy':<9}{'challengers':>12}{'beyond margin':>14}   "
        f"{'paired: right  P/R/K  days  flights':>36}   "
        f"{'unpaired: right  P/R/K  days  flights':>38}"
    ]
    for _, row in total.iterrows():
        cells = []
        for rule in ("paired", "unpaired"):
            verdicts = f"{row[f'{rule}_promote']}/{row[f'{rule}_rollback']}/{row[f'{rule}_keep']}"
            cells.append(
                f"{row[f'{rule}_right']:>3}/{row['beyond_margin']:<3}"
                f"({row[f'{rule}_accuracy']:.0%}) {verdicts:>7} {row[f'{rule}_median_days']:>5.1f}"
                f" {row[f'{rule}_median_flights']:>8.0f}"
            )
        lines.append(
            f"{row['policy']:<9}{row['challengers']:>12}{row['beyond_margin']:>14}   "
            f"{cells[0]:>36}   {cells[1]:>38}"
        )
    lines.append("(P/R/K: promote / rollback / keep the champion; days and flights: medians)")
    lines.append("")
    lines.append(
        f"{'policy':<9}{'champion':>11}{'challenger':>11}{'truth dAUC':>11}{'truth':>8}"
        f"{'paired':>10}{'days':>5}{'log-loss CS':>20}{'unpaired':>10}{'days':>5}"
    )
    for _, r in table.iterrows():
        interval = (
            f"[{r['paired_low']:+.4f},{r['paired_high']:+.4f}]"
            if r["paired_low"] is not None and not pd.isna(r["paired_low"])
            else ""
        )
        lines.append(
            f"{r['policy']:<9}{str(r['champion']):>11}{str(r['challenger']):>11}"
            f"{r['truth_auc_diff']:>+11.4f}{r['truth']:>8}{r['paired']:>10}{r['paired_days']:>5}"
            f"{interval:>20}{r['unpaired']:>10}{r['unpaired_days']:>5}"
        )
    return "\n".join(lines)


def max_wait_tradeoff(
    result: BacktestResult,
    period: PeriodFrame,
    settings: Settings,
    max_waits: tuple[int, ...] = (1200, 2400, 4800, 9600),
    cache: Scores | None = None,
) -> pd.DataFrame:
    """The paired verdict's accuracy and median labelled days for several maximum waits:
    a shorter wait decides sooner but keeps the champion on more truly better challengers."""
    cache = {} if cache is None else cache
    rows = []
    for max_wait in max_waits:
        tried = settings.replace(loop={"canary_max_labelled": max_wait})
        rows.append({"max_labelled": max_wait, **closing_line(
            judge_challengers(result, period, tried, cache)
        )})  # fmt: skip
    return pd.DataFrame(rows)
