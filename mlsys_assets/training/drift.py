"""A simple train-vs-test drift comparison: the population stability index of each feature.

It tells the reader of an evaluation whether the test window looks like the training window;
monitoring does the live, per-day version with Evidently.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlsys_assets.model_contract import FeatureSpec

PSI_DRIFT = 0.2  # the usual rule of thumb: < 0.1 stable, 0.1-0.2 moderate, > 0.2 drifted
BINS = 10


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index between two vectors of bin shares."""
    e = np.clip(expected, 1e-4, None)
    a = np.clip(actual, 1e-4, None)
    return float(np.sum((a - e) * np.log(a / e)))


def _shares(values: pd.Series, edges: np.ndarray) -> np.ndarray:
    counts = np.histogram(values.dropna().to_numpy(), bins=edges)[0].astype("float64")
    counts = np.append(counts, float(values.isna().sum()))  # missing is a bin of its own
    return counts / max(counts.sum(), 1.0)


def _top_categories(ref: pd.Series, cur: pd.Series, top: int = 30) -> tuple[pd.Series, pd.Series]:
    """Both columns with missing as a value and rare categories folded into ``<other>``."""
    ref = ref.astype("object").fillna("<missing>")
    cur = cur.astype("object").fillna("<missing>")
    keep = set(ref.value_counts().index[:top])
    return ref.where(ref.isin(keep), "<other>"), cur.where(cur.isin(keep), "<other>")


def drift_table(reference: pd.DataFrame, current: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """PSI of every feature of ``spec`` between ``reference`` (train) and ``current`` (test)."""
    rows = []
    for name in spec.feature_names:
        ref, cur = reference[name], current[name]
        if name in spec.categories:
            ref_c, cur_c = _top_categories(ref, cur)
            labels = sorted(set(ref_c) | set(cur_c))
            e = ref_c.value_counts(normalize=True).reindex(labels, fill_value=0.0).to_numpy()
            a = cur_c.value_counts(normalize=True).reindex(labels, fill_value=0.0).to_numpy()
        else:
            ref_n = pd.to_numeric(ref, errors="coerce")
            cur_n = pd.to_numeric(cur, errors="coerce")
            quantiles = (
                np.nanquantile(ref_n, np.linspace(0, 1, BINS + 1))
                if ref_n.notna().any()
                else [0.0, 1.0]
            )
            edges = np.unique(np.asarray(quantiles, dtype="float64"))
            if len(edges) < 2:
                edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
            edges[0], edges[-1] = -np.inf, np.inf
            e, a = _shares(ref_n, edges), _shares(cur_n, edges)
        value = psi(e, a)
        rows.append({"feature": name, "psi": round(value, 6), "drifted": value > PSI_DRIFT})
    return pd.DataFrame(rows).sort_values("psi", ascending=False).reset_index(drop=True)
