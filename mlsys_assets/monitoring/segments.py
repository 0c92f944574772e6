"""Segments: the model judged per carrier, origin and departure-hour band, not only on average.

A model that fails for one carrier is averaged away in a day's single number. Per segment and
day this computes the volume, mean score, realised delay rate, live ROC AUC and the CBPE
estimate, and the prediction drift against the same segment of the reference. Two tests decide
whether a segment is *flagged*:

- **score shift** (before labels): how far the segment's mean score moved from its reference,
  beyond how far the rest of the day's flights moved from theirs;
- **calibration** (once labels land): the segment's expected minus observed delay rate
  (calibrated probabilities), beyond the same gap of the rest of the day.

Both are contrasts with the rest of the same day: a storm or a holiday moves every flight of a
day together, and a test against the reference alone would flag every segment on such days.
Each gives a z-score (normal approximation, independent flights) and a two-sided p-value; the
p-values of all the day's tests are corrected together with Holm's step-down procedure
(family-wise error at ``alpha``), and a segment is flagged only if a corrected p-value is below
``alpha`` *and* its effect is at least ``min_effect`` (in probability): with thousands of
flights a practically irrelevant shift is still "significant". Segments with fewer than
``min_rows`` flights (``min_labelled`` labelled ones for the calibration test) are measured
but not tested, so noise in small segments cannot alert.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlsys_assets.monitoring.reference import LABEL, SCORE

DIMENSIONS = ("carrier", "origin", "hour_band")
# Departure-hour bands (local hour of the scheduled departure): the bank structure of a day.
HOUR_BANDS = [(0, 9, "05-08"), (9, 12, "09-11"), (12, 15, "12-14"), (15, 18, "15-17"),
              (18, 24, "18-23")]  # fmt: skip
SHIFT, CALIBRATION = "score_shift", "calibration"
COLUMNS = ["dimension", "segment", "n", "labelled", "mean_score", "reference_mean_score",
           "observed_rate", "expected_rate", "roc_auc", "est_roc_auc", "drift_score",
           "shift", "shift_z", "shift_p", "calibration_gap", "calibration_z", "calibration_p",
           "p_adjusted", "flagged", "reason"]  # fmt: skip


@dataclass(frozen=True)
class SegmentRules:
    min_rows: int = 100
    min_labelled: int = 80
    alpha: float = 0.01
    min_effect: float = 0.08

    @classmethod
    def from_settings(cls, settings) -> SegmentRules:
        return cls(
            settings.monitoring_segment_min_rows,
            settings.monitoring_segment_min_labelled,
            settings.monitoring_segment_alpha,
            settings.monitoring_segment_min_effect,
        )


def hour_band(hours: pd.Series) -> pd.Series:
    """The band label of each local departure hour."""
    h = pd.to_numeric(hours, errors="coerce")
    out = pd.Series(None, index=hours.index, dtype="object")
    for lo, hi, label in HOUR_BANDS:
        out[(h >= lo) & (h < hi)] = label
    return out


def with_segments(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (carrier, origin, hour) plus ``hour_band``."""
    return frame.assign(hour_band=hour_band(frame["hour"]))


def _p_two_sided(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2.0)) if z == z else float("nan")


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN kept NaN): family-wise error control."""
    p = np.asarray(p_values, dtype="float64")
    out = np.full(p.shape, np.nan)
    index = np.flatnonzero(~np.isnan(p))
    if len(index) == 0:
        return out
    order = index[np.argsort(p[index])]
    m = len(order)
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = adjusted
    return out


def _auc(y: np.ndarray, s: np.ndarray, w: np.ndarray | None = None) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s, sample_weight=w))


def _shift(seg: pd.Series, rest: pd.Series, ref_seg: pd.Series, ref_rest: pd.Series) -> tuple:
    """Difference in differences of mean scores, its z and p (NaN when a side is empty)."""
    parts = [seg, rest, ref_seg, ref_rest]
    if any(len(x) < 2 for x in parts):
        return (float("nan"),) * 3
    d = (seg.mean() - ref_seg.mean()) - (rest.mean() - ref_rest.mean())
    se = math.sqrt(sum(x.var(ddof=1) / len(x) for x in parts))
    z = d / se if se > 0 else float("nan")
    return float(d), float(z), _p_two_sided(z)


def _calibration(p_seg: np.ndarray, y_seg: np.ndarray, p_rest: np.ndarray, y_rest: np.ndarray):
    """Expected minus observed delay rate of the segment, beyond the rest's; z and p."""
    if len(p_seg) == 0 or len(p_rest) == 0:
        return (float("nan"),) * 3
    gap = p_seg.mean() - y_seg.mean()
    d = gap - (p_rest.mean() - y_rest.mean())
    var = (p_seg * (1 - p_seg)).sum() / len(p_seg) ** 2
    var += (p_rest * (1 - p_rest)).sum() / len(p_rest) ** 2
    z = d / math.sqrt(var) if var > 0 else float("nan")
    return float(d), float(z), _p_two_sided(z)


def segment_table(day: pd.DataFrame, reference: pd.DataFrame, rules: SegmentRules) -> pd.DataFrame:
    """One row per segment of the day: measures, tests, Holm-adjusted p-value, flag.

    ``day``: carrier, origin, hour, ``score``, ``calibrated`` (the calibrated probability) and
    ``label`` (NaN until known). ``reference``: carrier, origin, hour and ``score``.
    """
    from mlsys_assets.monitoring.scores import column_score

    if day.empty:
        return pd.DataFrame(columns=COLUMNS)
    day = with_segments(day)
    ref = with_segments(reference) if len(reference) else reference
    has_ref = len(ref) > 0 and SCORE in ref and ref[SCORE].notna().any()
    rows = []
    for dim in DIMENSIONS:
        for value, seg in day.groupby(dim, dropna=True):
            rest = day[day[dim] != value]
            known = seg[seg[LABEL].notna()]
            rest_known = rest[rest[LABEL].notna()]
            y = known[LABEL].to_numpy(dtype="float64")
            ref_seg = ref[ref[dim] == value][SCORE].dropna() if has_ref else pd.Series(dtype=float)
            ref_rest = ref[ref[dim] != value][SCORE].dropna() if has_ref else pd.Series(dtype=float)
            row = {
                "dimension": dim,
                "segment": str(value),
                "n": len(seg),
                "labelled": len(known),
                "mean_score": float(seg[SCORE].mean()),
                "reference_mean_score": float(ref_seg.mean()) if len(ref_seg) else None,
                "observed_rate": float(y.mean()) if len(y) else None,
                "expected_rate": float(seg["calibrated"].mean()),
                "roc_auc": _auc(y, known[SCORE].to_numpy()) if len(np.unique(y)) == 2 else None,
                "est_roc_auc": None,
                "drift_score": column_score(ref_seg, seg[SCORE], categorical=False)
                if len(ref_seg)
                else None,
            }
            p = seg["calibrated"].to_numpy(dtype="float64")
            if 0.0 < p.sum() < len(p):
                both = np.r_[seg[SCORE].to_numpy(), seg[SCORE].to_numpy()]
                weights = np.r_[p, 1.0 - p]
                row["est_roc_auc"] = _auc(np.r_[np.ones(len(p)), np.zeros(len(p))], both, weights)
            shift = calib = (float("nan"),) * 3
            if len(seg) >= rules.min_rows and len(ref_seg) >= 2:
                shift = _shift(seg[SCORE], rest[SCORE], ref_seg, ref_rest)
            if len(known) >= rules.min_labelled and len(rest_known):
                calib = _calibration(
                    known["calibrated"].to_numpy(dtype="float64"), y,
                    rest_known["calibrated"].to_numpy(dtype="float64"),
                    rest_known[LABEL].to_numpy(dtype="float64"),
                )  # fmt: skip
            row |= dict(zip(["shift", "shift_z", "shift_p"], shift, strict=True))
            row |= dict(
                zip(["calibration_gap", "calibration_z", "calibration_p"], calib, strict=True)
            )
            rows.append(row)
    table = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("p_adjusted", "flagged",
                                                                          "reason")])  # fmt: skip
    return _decide(table, rules)


def _decide(table: pd.DataFrame, rules: SegmentRules) -> pd.DataFrame:
    """Holm over every test of the day; flag = corrected p < alpha and effect >= min_effect."""
    p = np.r_[table["shift_p"].to_numpy(dtype="float64"),
              table["calibration_p"].to_numpy(dtype="float64")]  # fmt: skip
    adjusted = holm(p)
    n = len(table)
    shift_adj, calib_adj = adjusted[:n], adjusted[n:]
    reasons, flagged, best = [], [], []
    for i, row in enumerate(table.itertuples()):
        why = []
        if shift_adj[i] < rules.alpha and abs(row.shift) >= rules.min_effect:
            why.append(f"mean score moved {row.shift:+.3f} beyond the rest of the day")
        if calib_adj[i] < rules.alpha and abs(row.calibration_gap) >= rules.min_effect:
            why.append(f"expected - observed delay rate {row.calibration_gap:+.3f} beyond the rest")
        reasons.append("; ".join(why) or None)
        flagged.append(bool(why))
        best.append(np.nanmin([shift_adj[i], calib_adj[i], np.inf]))
    table["p_adjusted"] = [b if b != np.inf else None for b in best]
    table["flagged"] = flagged
    table["reason"] = reasons
    return table
