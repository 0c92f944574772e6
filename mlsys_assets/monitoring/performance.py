"""Live performance once outcomes are known, and an estimate of it before they are.

Realised: each scored flight is labelled by its ``/feedback`` outcome (by request id) or else by
the landed outcome in ``raw.flights`` (by flight key), with the training label rules; precision,
recall, ROC AUC, Brier, expected calibration error and label coverage per day and variant.

Estimated (confidence-based performance estimation, NannyML's CBPE): with calibrated
probabilities p, a flight is delayed with probability p, so the expected confusion matrix at the
decision threshold is a sum of p and 1 - p; ROC AUC is the AUC of the same scores with each flight
counted as a positive of weight p and a negative of weight 1 - p. The model's scores are first
calibrated (isotonic) on the reference's held-out window, where labels are known.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pandas as pd

from mlsys_assets.lazy_imports import load
from mlsys_assets.monitoring.reference import KEY, LABEL, SCORE, Reference
from mlsys_assets.settings import Settings
from mlsys_assets.training.labels import labels, outcomes

if TYPE_CHECKING:
    from sklearn.isotonic import IsotonicRegression

CALIBRATION_BINS = 10
ALL = "all"


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else float("nan")


def _roc_auc(y: np.ndarray, p: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
    roc_auc_score = load("sklearn.metrics").roc_auc_score  # slow to import: runs that need it

    return float(roc_auc_score(y, p, sample_weight=sample_weight))


def binary_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    """Precision, recall, ROC AUC, Brier and ECE of labelled scores at ``threshold``."""
    y = np.asarray(y, dtype="float64")
    p = np.asarray(p, dtype="float64")
    if len(y) == 0:
        nan = float("nan")
        return {"precision": nan, "recall": nan, "roc_auc": nan, "brier": nan, "ece": nan}
    predicted = p >= threshold
    tp = float(np.sum(predicted & (y == 1)))
    auc = _roc_auc(y, p) if len(np.unique(y)) == 2 else float("nan")
    return {
        "precision": _ratio(tp, float(predicted.sum())),
        "recall": _ratio(tp, float((y == 1).sum())),
        "roc_auc": auc,
        "brier": float(np.mean((p - y) ** 2)),
        "ece": expected_calibration_error(y, p),
    }


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = CALIBRATION_BINS) -> pd.DataFrame:
    """Reliability table: equal-width score bins, their mean score and observed delay rate."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    rows = []
    for b in range(bins):
        mask = index == b
        rows.append(
            {
                "bin": b,
                "lo": edges[b],
                "hi": edges[b + 1],
                "n": int(mask.sum()),
                "mean_score": float(p[mask].mean()) if mask.any() else None,
                "observed_rate": float(y[mask].mean()) if mask.any() else None,
            }
        )
    return pd.DataFrame(rows)


def expected_calibration_error(y: np.ndarray, p: np.ndarray) -> float:
    table = calibration_table(y, p)
    table = table[table["n"] > 0]
    gaps = (table["mean_score"] - table["observed_rate"]).abs()
    return float((gaps * table["n"]).sum() / table["n"].sum()) if len(table) else float("nan")


def attach_labels(
    conn: duckdb.DuckDBPyConnection,
    settings: Settings,
    scores: pd.DataFrame,
    feedback: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """``scores`` (flight key, optional request_id) plus ``label`` and ``label_source``.

    Feedback by request id wins over the landed outcome by flight key (it is what the client
    saw); with neither, the label is NaN (not yet known, or excluded by the label rules).
    """
    out = scores.copy()
    out["flight_date"] = pd.to_datetime(out["flight_date"]).dt.date
    start, end = out["flight_date"].min(), out["flight_date"].max()
    landed = conn.execute(
        "SELECT flight_date, carrier, flight, origin, arr_delay, cancelled FROM raw.flights "
        "WHERE flight_date BETWEEN ? AND ?",
        [start, end],
    ).df()
    landed["flight_date"] = pd.to_datetime(landed["flight_date"]).dt.date
    landed["flight"] = landed["flight"].astype("int64")
    out["flight"] = pd.to_numeric(out["flight"]).astype("int64")
    out = out.merge(
        landed.rename(columns={"arr_delay": "_arr", "cancelled": "_can"}), on=KEY, how="left"
    )
    # Nullable types before ``where``: a flight not landed yet is <NA>, not an object column's
    # NaN (which pandas would silently downcast, with a FutureWarning per call).
    arr, can = out["_arr"], out["_can"].astype("boolean")
    source = pd.Series(np.where(out["_can"].notna(), "landing", None), index=out.index)
    if feedback is not None and len(feedback) and "request_id" in out:
        fb = feedback.set_index("request_id")
        has = out["request_id"].isin(fb.index)
        arr = arr.where(~has, out["request_id"].map(fb["arr_delay"]))
        can = can.where(~has, out["request_id"].map(fb["cancelled"]).astype("boolean"))
        source = source.where(~has, "feedback")
    known = can.notna()
    label = labels(
        outcomes(arr, can.astype("boolean").fillna(False)), settings.training.cancelled_policy
    )
    out[LABEL] = label.where(known)
    out["label_source"] = source.where(known)
    return out.drop(columns=["_arr", "_can"])


def live_metrics(labelled: pd.DataFrame, threshold_col: str = "threshold") -> pd.DataFrame:
    """One row per variant (and ``all``): coverage, positives and the binary metrics."""
    rows = []
    groups = [(ALL, labelled)] + list(labelled.groupby("variant", dropna=False))
    for variant, part in groups:
        known = part[part[LABEL].notna()]
        y = known[LABEL].to_numpy(dtype="float64")
        p = known[SCORE].to_numpy(dtype="float64")
        threshold = float(part[threshold_col].median()) if len(part) else 0.5
        versions = sorted({str(v) for v in part["model_version"].dropna()})
        rows.append(
            {
                "variant": str(variant),
                "model_version": ",".join(versions) or None,
                "predictions": len(part),
                "labelled": len(known),
                "label_coverage": _ratio(len(known), len(part)),
                "from_feedback": int((known["label_source"] == "feedback").sum()),
                "positives": int((y == 1).sum()),
                "positive_rate": float(y.mean()) if len(y) else float("nan"),
                "mean_score": float(part[SCORE].mean()) if len(part) else float("nan"),
                **binary_metrics(y, p, threshold),
            }
        )
    return pd.DataFrame(rows)


def fit_calibrator(reference: Reference) -> IsotonicRegression | None:
    """Isotonic map score -> delay probability, fitted where labels are known (held-out window)."""
    isotonic = load("sklearn.isotonic")
    held_out = reference.test
    held_out = held_out[held_out[LABEL].notna() & held_out[SCORE].notna()]
    if len(held_out) < 50 or held_out[LABEL].nunique() < 2:
        return None
    model = isotonic.IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    model.fit(held_out[SCORE].to_numpy(), held_out[LABEL].to_numpy())
    return model


def estimate_performance(
    scores: np.ndarray, threshold: float, calibrator: IsotonicRegression | None = None
) -> dict[str, float]:
    """CBPE: expected precision, recall, ROC AUC and positive rate from calibrated confidence."""
    s = np.asarray(scores, dtype="float64")
    if len(s) == 0:
        nan = float("nan")
        return {"est_precision": nan, "est_recall": nan, "est_roc_auc": nan,
                "est_positive_rate": nan}  # fmt: skip
    p = calibrator.predict(s) if calibrator is not None else np.clip(s, 0.0, 1.0)
    predicted = s >= threshold
    exp_tp = float(p[predicted].sum())
    if 0.0 < p.sum() < len(p):
        y = np.r_[np.ones(len(s)), np.zeros(len(s))]
        auc = _roc_auc(y, np.r_[s, s], sample_weight=np.r_[p, 1.0 - p])
    else:
        auc = float("nan")
    return {
        "est_precision": _ratio(exp_tp, float(predicted.sum())),
        "est_recall": _ratio(exp_tp, float(p.sum())),
        "est_roc_auc": auc,
        "est_positive_rate": float(p.mean()),
    }
