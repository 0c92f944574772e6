"""The day's measures beyond drift and AUC: confidence, class balance, business cost, availability.

- **Confidence**: the distribution of the served scores and the share of answers *near the
  threshold* (within ``monitoring_confidence_band``): a model that grows unsure piles its
  answers there long before its AUC moves.
- **Class balance**: the predicted positive rate against the realised delay rate (once labels
  land), the expected rate (mean calibrated probability) and the training delay rate.
- **Business cost** (``business_cost.CostModel``): per variant, the realised cost of the labelled
  answers and the expected cost of all answers before labels, in the user's units.
- **Availability and latency** against the serving objectives (``slo_*``): the share of
  successful answers, p50/p99 latency, the fallback share, and the error budget left over the
  rolling ``slo_window_days``. Availability is measured on the prediction log, i.e. on answers
  given: an answer is unsuccessful when its model failed or no model answered (an HTTP error
  that never reached the log is visible in ``/metrics`` only).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from mlsys_assets.business_cost import CostModel
from mlsys_assets.monitoring.operations import _is_error
from mlsys_assets.monitoring.prediction_log import SHADOW, has_fallback
from mlsys_assets.monitoring.reference import LABEL, SCORE

ALL = "all"
CALIBRATED = "calibrated"
HISTOGRAM_BINS = 10


def answered(frame: pd.DataFrame) -> pd.DataFrame:
    """The answers clients got: shadow scores of the same flights would count them twice."""
    return frame[frame["variant"] != SHADOW] if "variant" in frame else frame


def _groups(frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """``all`` (what clients were told), then each variant, shadow included."""
    variants = ((str(v), p) for v, p in frame.groupby("variant", dropna=False))
    return [(ALL, answered(frame)), *variants]


def confidence(scores: pd.DataFrame, band: float) -> pd.DataFrame:
    """Per variant: score quantiles, a 10-bin histogram and the share near the threshold."""
    rows = []
    for variant, part in _groups(scores) if len(scores) else []:
        s = part[SCORE].to_numpy(dtype="float64")
        t = part["threshold"].to_numpy(dtype="float64")
        counts, _ = np.histogram(np.clip(s, 0, 1), bins=HISTOGRAM_BINS, range=(0.0, 1.0))
        q = np.nanpercentile(s, [5, 25, 50, 75, 95])
        rows.append(
            {
                "variant": variant,
                "n": len(part),
                "p05": q[0], "p25": q[1], "p50": q[2], "p75": q[3], "p95": q[4],
                "near_threshold_share": float((np.abs(s - t) < band).mean()),
                "mean_margin": float(np.nanmean(np.abs(s - t))),
                "histogram": json.dumps(counts.tolist()),
            }
        )  # fmt: skip
    return pd.DataFrame(rows)


def class_balance(labelled: pd.DataFrame, training_rate: float | None) -> pd.DataFrame:
    """Per variant: predicted positive rate, realised and expected delay rate, training rate."""
    rows = []
    for variant, part in _groups(labelled) if len(labelled) else []:
        known = part[part[LABEL].notna()]
        rows.append(
            {
                "variant": variant,
                "n": len(part),
                "labelled": len(known),
                "predicted_positive_rate": float(part["decision"].mean()),
                "expected_delay_rate": float(part[CALIBRATED].mean()),
                "realised_delay_rate": float(known[LABEL].mean()) if len(known) else None,
                "training_delay_rate": training_rate,
            }
        )
    return pd.DataFrame(rows)


def business_cost(labelled: pd.DataFrame, cost: CostModel) -> pd.DataFrame:
    """Per variant: realised cost of the labelled answers, expected cost of all answers."""
    rows = []
    for variant, part in _groups(labelled) if len(labelled) else []:
        decision = part["decision"].to_numpy(dtype="float64")
        expected = cost.expected(part[CALIBRATED].to_numpy(dtype="float64"), decision)
        known = part[LABEL].notna().to_numpy()
        y = part[LABEL].to_numpy(dtype="float64")[known]
        realised = cost.realised(y, decision[known])
        rows.append(
            {
                "variant": variant,
                "n": len(part),
                "labelled": int(known.sum()),
                "missed_delays": int(((y == 1) & (decision[known] == 0)).sum()),
                "false_alarms": int(((y == 0) & (decision[known] == 1)).sum()),
                "realised_cost": float(realised.sum()) if known.any() else None,
                "realised_cost_per_flight": float(realised.mean()) if known.any() else None,
                "expected_cost": float(expected.sum()),
                "expected_cost_per_flight": float(expected.mean()),
                "cost_missed_delay": cost.missed_delay,
                "cost_false_alarm": cost.false_alarm,
            }
        )
    return pd.DataFrame(rows)


def availability(
    predictions: pd.DataFrame,
    history: pd.DataFrame,
    *,
    objective: float,
    latency_p99_ms: float,
) -> dict[str, object] | None:
    """The day's availability and latency against the objectives, and the budgets left.

    ``history``: earlier days' rows of this table inside the window (requests, failed, slow).
    The error budget is the failures the objective allows over the window,
    ``(1 - objective) x requests``; what is left is ``1 - failures / allowed`` (negative when
    overspent). The latency budget likewise allows 1% of answers over the p99 objective.
    """
    predictions = answered(predictions)
    if predictions.empty:
        return None
    latency = predictions["latency_ms"].astype("float64").to_numpy()
    failed = int(predictions["fallbacks"].map(_is_error).sum())
    slow = int((latency > latency_p99_ms).sum())
    requests = len(predictions)
    window_requests = requests + int(history["requests"].sum()) if len(history) else requests
    window_failed = failed + int(history["failed"].sum()) if len(history) else failed
    window_slow = slow + int(history["slow"].sum()) if len(history) else slow
    allowed = (1.0 - objective) * window_requests
    p50, p99 = np.nanpercentile(latency, [50, 99])
    return {
        "requests": requests,
        "failed": failed,
        "slow": slow,
        "availability": 1.0 - failed / requests,
        "availability_objective": objective,
        "latency_p50_ms": float(p50),
        "latency_p99_ms": float(p99),
        "latency_p99_objective_ms": latency_p99_ms,
        "fallback_share": float(has_fallback(predictions).mean()),
        "window_days": 1 + (len(history) if len(history) else 0),
        "window_availability": 1.0 - window_failed / window_requests,
        "error_budget_left": 1.0 - window_failed / allowed if allowed > 0 else None,
        "latency_budget_left": 1.0 - window_slow / (0.01 * window_requests),
    }
