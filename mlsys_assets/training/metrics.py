"""Probability metrics, calibration, per-segment results and the decision threshold."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    precision_recall_curve,
    roc_auc_score,
)

SEGMENTS = ("carrier", "origin", "month")
MIN_SEGMENT_ROWS = 50
THRESHOLD_GOAL = (
    "alert passengers of likely delays: catch as many delayed flights as possible while at "
    "least {precision:.0%} of alerts are right (highest recall at precision >= target, chosen on "
    "validation; max F1 when the target is out of reach)"
)


def score(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """ROC AUC, PR AUC (average precision), log loss, Brier score, expected calibration error."""
    p = np.clip(p, 1e-7, 1 - 1e-7)
    two_classes = len(np.unique(y)) == 2
    return {
        "roc_auc": float(roc_auc_score(y, p)) if two_classes else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if two_classes else float("nan"),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(y, p),
    }


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Mean predicted vs observed rate in equal-width probability bins."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    frame = pd.DataFrame({"bin": index, "p": p, "y": y})
    table = frame.groupby("bin").agg(
        n=("y", "size"), predicted=("p", "mean"), observed=("y", "mean")
    )
    return table.reset_index()


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    table = calibration_table(y, p, bins)
    return float((table["n"] * (table["predicted"] - table["observed"]).abs()).sum() / len(y))


def segment_table(frame: pd.DataFrame, y: np.ndarray, p: np.ndarray) -> pd.DataFrame:
    """ROC AUC, Brier, base rate and mean prediction per carrier, origin and month."""
    data = pd.DataFrame(
        {
            "carrier": frame["carrier"].astype(str).to_numpy(),
            "origin": frame["origin"].astype(str).to_numpy(),
            "month": pd.to_datetime(frame["flight_date"]).dt.strftime("%Y-%m").to_numpy(),
            "y": y,
            "p": p,
        }
    )
    rows = []
    for segment in SEGMENTS:
        for value, part in data.groupby(segment):
            two_classes = part["y"].nunique() == 2 and len(part) >= MIN_SEGMENT_ROWS
            rows.append(
                {
                    "segment": segment,
                    "value": str(value),
                    "rows": len(part),
                    "delay_rate": float(part["y"].mean()),
                    "mean_prediction": float(part["p"].mean()),
                    "roc_auc": float(roc_auc_score(part["y"], part["p"]))
                    if two_classes
                    else float("nan"),
                    "brier": float(brier_score_loss(part["y"], part["p"])),
                }
            )
    return pd.DataFrame(rows)


def choose_threshold(y: np.ndarray, p: np.ndarray, min_precision: float) -> tuple[float, str]:
    """The decision threshold for the business goal (see ``THRESHOLD_GOAL``), and how it was met."""
    precision, recall, thresholds = precision_recall_curve(y, p)
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    reachable = precision >= min_precision
    if reachable.any():
        best = int(np.argmax(np.where(reachable, recall, -1.0)))
        return float(thresholds[best]), "recall_at_precision"
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return float(thresholds[int(np.argmax(f1))]), "max_f1"


def decision_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    flagged = p >= threshold
    tp = float((flagged & (y == 1)).sum())
    return {
        "precision": tp / max(float(flagged.sum()), 1.0),
        "recall": tp / max(float((y == 1).sum()), 1.0),
        "alert_rate": float(flagged.mean()),
    }
