"""Per-column drift scores with Evidently's own statistical tests (no rendering).

The numbers stored in ``monitoring.drift`` come from the same ``StatTest`` objects Evidently's
``ValueDrift``/``DataDriftPreset`` use: normed Wasserstein distance for numbers and Jensen-Shannon
distance for categories, both "higher is more drift", so a score is comparable across days.
Rendering Evidently's HTML costs seconds per column; scoring costs milliseconds, which is what
lets the thresholds be calibrated on whole reference days.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from mlsys_assets.lazy_imports import load

NUM_METHOD = "wasserstein"
CAT_METHOD = "jensenshannon"
DEFAULT_THRESHOLD = 0.1  # Evidently's default for both methods


def method_for(column: str, categorical: list[str]) -> str:
    return CAT_METHOD if column in categorical else NUM_METHOD


def column_score(reference: pd.Series, current: pd.Series, categorical: bool) -> float:
    """One column's drift score (NaN when either side has no value at all)."""
    # Evidently takes seconds to import; only the runs that score drift should pay for it.
    stattests = load("evidently.legacy.calculations.stattests")
    column_type = load("evidently.legacy.core").ColumnType

    ref = reference.replace([np.inf, -np.inf], np.nan).dropna()
    cur = current.replace([np.inf, -np.inf], np.nan).dropna()
    if ref.empty or cur.empty:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if categorical:
            result = stattests.jensenshannon_stat_test(
                ref.astype(str), cur.astype(str), column_type.Categorical, DEFAULT_THRESHOLD
            )
        else:
            result = stattests.wasserstein_stat_test(
                ref.astype("float64"),
                cur.astype("float64"),
                column_type.Numerical,
                DEFAULT_THRESHOLD,
            )
    return float(result.drift_score)


def score_columns(
    reference: pd.DataFrame, current: pd.DataFrame, columns: list[str], categorical: list[str]
) -> dict[str, float]:
    """Drift score of each column of ``columns``."""
    return {
        c: column_score(reference[c], current[c], c in categorical) for c in columns if c in current
    }


def calibrated_thresholds(
    reference: pd.DataFrame,
    days: list[pd.DataFrame],
    columns: list[str],
    categorical: list[str],
) -> dict[str, float]:
    """Per-column thresholds: above the score a normal reference day gets, never below the default.

    One day against a multi-week reference always "drifts" on day-level features (its weekday,
    its weather): a fixed threshold would flag every calm day. The threshold of each column is
    ``mean + 2 sd`` of the scores whole reference days get against the reference sample, so a day
    is drifted only when it differs more than the days the model was trained on differ.
    """
    table = pd.DataFrame([score_columns(reference, day, columns, categorical) for day in days])
    out: dict[str, float] = {}
    for column in columns:
        values = table[column].dropna() if column in table else pd.Series(dtype="float64")
        spread = float(values.mean() + 2 * values.std(ddof=0)) if len(values) else 0.0
        out[column] = max(DEFAULT_THRESHOLD, spread)
    return out
