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
day together. That is not enough: flights of one day are not independent (one carrier's
cascade, one airport's weather), so a z-test assuming independent flights flags segments on
calm days (measured on January 2013: most origins and several carriers, z up to 20). So:

1. the z-scores are divided by the square root of their *dispersion*, Pearson's mean(z^2) over
   every segment's z of the day and of the previous ``history_days`` days (the quasi-likelihood
   correction for overdispersion);
2. the p-values of all the day's tests are corrected together with Holm's step-down procedure
   (family-wise error at ``alpha``); a test is *significant* if its corrected p-value is below
   ``alpha`` and its effect is at least ``min_effect`` (in probability);
3. a segment is *flagged* only when significant on ``persist_days`` consecutive days (2 by
   default, as a Prometheus alert's ``for:``): on real data a single calm day still shows a few
   heavy-tailed segment effects (a Sunday evening bank, one airport's storm), while a broken
   feed or a model failing for a carrier persists.

Segments with fewer than ``min_rows`` flights (``min_labelled`` labelled ones for the calibration
test) are measured but not tested, so noise in small segments cannot alert; with fewer than
``min_tests`` z-scores to estimate the dispersion nothing is tested.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlsys_assets.monitoring.reference import LABEL, SCORE

DIMENSIONS = ("carrier", "origin", "hour_band")
# Departure-hour bands (local hour of the scheduled departure): the bank structure of a day.
HOUR_BANDS = [(0, 9, "05-08"), (9, 12, "09-11"), (12, 15, "12-14"), (15, 18, "15-17"),
              (18, 24, "18-23")]  # fmt: skip
COLUMNS = ["dimension", "segment", "n", "labelled", "mean_score", "reference_mean_score",
           "observed_rate", "expected_rate", "roc_auc", "est_roc_auc", "drift_score",
           "shift", "shift_z", "shift_p", "calibration_gap", "calibration_z", "calibration_p",
           "shift_dispersion", "calibration_dispersion", "p_adjusted", "significant", "flagged",
           "reason"]  # fmt: skip


@dataclass(frozen=True)
class SegmentRules:
    min_rows: int = 100
    min_labelled: int = 80
    alpha: float = 0.01
    min_effect: float = 0.10
    min_tests: int = 10
    history_days: int = 28
    persist_days: int = 2

    @classmethod
    def from_settings(cls, settings) -> SegmentRules:
        return cls(
            settings.monitoring.segment_min_rows,
            settings.monitoring.segment_min_labelled,
            settings.monitoring.segment_alpha,
            settings.monitoring.segment_min_effect,
            settings.monitoring.segment_min_tests,
            settings.monitoring.segment_history_days,
            settings.monitoring.segment_persist_days,
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
    """ROC AUC (weighted): the chance a positive scores above a negative, ties counting half.

    The same number as scikit-learn's ``roc_auc_score`` without its validation, which costs
    more than the sum itself for a hundred segments a day.
    """
    y = np.asarray(y, dtype="float64")
    s = np.asarray(s, dtype="float64")
    w = np.ones(len(y)) if w is None else np.asarray(w, dtype="float64")
    pos_w, neg_w = w * (y == 1), w * (y == 0)
    total_pos, total_neg = pos_w.sum(), neg_w.sum()
    if total_pos == 0 or total_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    s, pos_w, neg_w = s[order], pos_w[order], neg_w[order]
    _, start, counts = np.unique(s, return_index=True, return_counts=True)
    pos_tied = np.add.reduceat(pos_w, start)
    neg_tied = np.add.reduceat(neg_w, start)
    neg_below = np.cumsum(neg_tied) - neg_tied
    wins = (pos_tied * (neg_below + 0.5 * neg_tied)).sum()
    return float(wins / (total_pos * total_neg))


def _shift(seg: pd.Series, rest: pd.Series, ref_seg: pd.Series, ref_rest: pd.Series) -> tuple:
    """Difference in differences of mean scores (segment vs rest, today vs reference), its SE."""
    parts = [seg, rest, ref_seg, ref_rest]
    if any(len(x) < 2 for x in parts):
        return float("nan"), float("nan")
    d = (seg.mean() - ref_seg.mean()) - (rest.mean() - ref_rest.mean())
    return float(d), math.sqrt(sum(x.var(ddof=1) / len(x) for x in parts))


def _calibration(p_seg: np.ndarray, y_seg: np.ndarray, p_rest: np.ndarray, y_rest: np.ndarray):
    """Expected minus observed delay rate of the segment, beyond the rest's; its SE."""
    if len(p_seg) == 0 or len(p_rest) == 0:
        return float("nan"), float("nan")
    d = (p_seg.mean() - y_seg.mean()) - (p_rest.mean() - y_rest.mean())
    var = (p_seg * (1 - p_seg)).sum() / len(p_seg) ** 2
    var += (p_rest * (1 - p_rest)).sum() / len(p_rest) ** 2
    return float(d), math.sqrt(var)


def dispersion(z_values: np.ndarray, min_values: int) -> float:
    """How much wider than independence the z-scores spread: mean(z^2) (Pearson's estimate),
    at least 1 (NaN with fewer than ``min_values`` z-scores)."""
    z = np.asarray(z_values, dtype="float64")
    z = z[~np.isnan(z)]
    if len(z) < min_values:
        return float("nan")
    return max(1.0, float(np.mean(z**2)))


def segment_table(
    day: pd.DataFrame,
    reference: pd.DataFrame,
    rules: SegmentRules,
    history: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per segment of the day: measures, tests, Holm-adjusted p-value, flag.

    ``day``: carrier, origin, hour, ``score``, ``calibrated`` (the calibrated probability) and
    ``label`` (NaN until known). ``reference``: carrier, origin, hour and ``score``.
    ``history``: earlier days' rows of this table (day, dimension, segment, shift_z,
    calibration_z, significant).
    """
    from mlsys_assets.monitoring.scores import column_score

    if day.empty:
        return pd.DataFrame(columns=COLUMNS)
    today = pd.to_datetime(day["flight_date"]).dt.date.iloc[0]
    day = with_segments(day[["carrier", "origin", "hour", SCORE, "calibrated", LABEL]])
    ref = reference[[c for c in ("carrier", "origin", "hour", SCORE) if c in reference]]
    ref = with_segments(ref) if len(ref) else ref
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
            shift = _shift(seg[SCORE], rest[SCORE], ref_seg, ref_rest)
            calib = (float("nan"), float("nan"))
            if len(known) and len(rest_known):
                calib = _calibration(
                    known["calibrated"].to_numpy(dtype="float64"), y,
                    rest_known["calibrated"].to_numpy(dtype="float64"),
                    rest_known[LABEL].to_numpy(dtype="float64"),
                )  # fmt: skip
            shift_ok = len(seg) >= rules.min_rows and shift[1] == shift[1] and shift[1] > 0
            calib_ok = len(known) >= rules.min_labelled and calib[1] == calib[1] and calib[1] > 0
            row |= {"shift": shift[0], "shift_z": shift[0] / shift[1] if shift_ok else None,
                    "calibration_gap": calib[0],
                    "calibration_z": calib[0] / calib[1] if calib_ok else None}  # fmt: skip
            rows.append(row)
    table = pd.DataFrame(rows)
    for test in ("shift", "calibration"):
        z = table[f"{test}_z"].to_numpy(dtype="float64")
        past = (
            history[f"{test}_z"].to_numpy(dtype="float64")
            if history is not None and f"{test}_z" in history
            else np.array([])
        )
        phi = dispersion(np.r_[past, z], rules.min_tests)
        table[f"{test}_dispersion"] = phi
        table[f"{test}_p"] = [_p_two_sided(v / math.sqrt(phi)) for v in z]
    table = _decide(table, rules)
    table["flagged"] = [
        bool(row.significant) and _persisted(history, row.dimension, row.segment, today,
                                              rules.persist_days)
        for row in table.itertuples()
    ]  # fmt: skip
    table.loc[~table["flagged"], "reason"] = None
    return table[COLUMNS]


def _persisted(
    history: pd.DataFrame | None, dimension: str, segment: str, today, persist_days: int
) -> bool:
    """Significant on each of the ``persist_days - 1`` days before ``today`` too."""
    if persist_days <= 1:
        return True
    if history is None or history.empty or "significant" not in history:
        return False
    mask = (history["dimension"] == dimension) & (history["segment"] == segment)
    rows = history[mask & history["significant"].fillna(False).astype(bool)]
    days = set(pd.to_datetime(rows["day"]).dt.date)
    return all(today - dt.timedelta(days=k) in days for k in range(1, persist_days))


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
            why.append(f"mean score moved {row.shift:+.3f} from the reference beyond the "
                       "rest of the day")  # fmt: skip
        if calib_adj[i] < rules.alpha and abs(row.calibration_gap) >= rules.min_effect:
            why.append(f"expected - observed delay rate {row.calibration_gap:+.3f} beyond "
                       "the rest of the day")  # fmt: skip
        reasons.append("; ".join(why) or None)
        flagged.append(bool(why))
        best.append(np.nanmin([shift_adj[i], calib_adj[i], np.inf]))
    table["p_adjusted"] = [b if b != np.inf else None for b in best]
    table["significant"] = flagged
    table["reason"] = reasons
    return table
