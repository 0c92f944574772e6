"""Daily drift of features and predictions against the reference, with an Evidently HTML report.

Scores for every feature and for the model's score come from Evidently's stat tests
(``scores.py``) with the calibrated per-column thresholds; the drifted share counts features only
(prediction drift is reported beside it). The HTML report is an Evidently 0.7 ``Report`` of
``ValueDrift`` metrics with the same methods and thresholds, for the prediction and the most
drifted features (rendering every column would cost seconds each).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from mlsys_assets.lazy_imports import load
from mlsys_assets.monitoring.reference import SCORE, Reference, feature_columns
from mlsys_assets.monitoring.scores import column_score, method_for, score_columns

if TYPE_CHECKING:
    from evidently import Dataset


@dataclass(frozen=True)
class DayDrift:
    """One day's drift: the per-column table and its summary numbers."""

    table: pd.DataFrame  # kind, feature, method, score, threshold, drifted
    rows: int
    drift_share: float
    n_features: int
    n_drifted: int
    prediction_score: float | None
    prediction_drifted: bool | None

    def top(self, n: int = 10) -> pd.DataFrame:
        features = self.table[self.table["kind"] == "feature"]
        return features.sort_values("score", ascending=False).head(n)


def compute_drift(
    reference: Reference, current: pd.DataFrame, predicted: pd.Series | None = None
) -> DayDrift:
    """Score every feature of ``current``, and ``predicted`` (the day's scores) when given."""
    names, categorical = feature_columns()
    columns = [c for c in names if c in current]
    scores = score_columns(reference.train, current, columns, categorical)
    ref_scores = reference.train[SCORE] if SCORE in reference.train else pd.Series(dtype=float)
    if predicted is not None and predicted.notna().any() and ref_scores.notna().any():
        scores[SCORE] = column_score(ref_scores, predicted, categorical=False)
    rows = []
    for column, score in scores.items():
        threshold = reference.thresholds.get(column, 0.1)
        rows.append(
            {
                "kind": "prediction" if column == SCORE else "feature",
                "feature": column,
                "method": method_for(column, categorical),
                "score": score,
                "threshold": threshold,
                "drifted": bool(score >= threshold) if score == score else None,
            }
        )
    table = pd.DataFrame(rows)
    features = table[(table["kind"] == "feature") & table["drifted"].notna()]
    n_drifted = int(features["drifted"].astype(bool).sum())
    prediction = table[table["kind"] == "prediction"]
    return DayDrift(
        table=table,
        rows=len(current),
        drift_share=n_drifted / len(features) if len(features) else 0.0,
        n_features=len(features),
        n_drifted=n_drifted,
        prediction_score=float(prediction["score"].iloc[0]) if len(prediction) else None,
        prediction_drifted=bool(prediction["drifted"].iloc[0]) if len(prediction) else None,
    )


def write_report(
    reference: Reference,
    current: pd.DataFrame,
    drift: DayDrift,
    path: Path,
    *,
    max_columns: int,
) -> Path:
    """Save the Evidently HTML report of the prediction and the most drifted features."""
    evidently = load("evidently")  # seconds to import: only when drawn
    value_drift = load("evidently.metrics").ValueDrift

    _, categorical = feature_columns()
    chosen = drift.table[drift.table["score"].notna()]
    chosen = pd.concat(
        [
            chosen[chosen["kind"] == "prediction"],
            chosen[chosen["kind"] == "feature"].sort_values("score", ascending=False),
        ]
    ).head(max_columns)
    columns = list(chosen["feature"])
    cats = [c for c in columns if c in categorical]
    nums = [c for c in columns if c not in categorical]
    definition = evidently.DataDefinition(numerical_columns=nums, categorical_columns=cats)
    metrics = [
        value_drift(column=row.feature, method=row.method, threshold=float(row.threshold))
        for row in chosen.itertuples()
    ]

    def dataset(frame: pd.DataFrame) -> Dataset:
        data = frame[columns].copy()
        for c in cats:
            data[c] = data[c].astype("object").where(data[c].notna(), None)
        return evidently.Dataset.from_pandas(data, data_definition=definition)

    snapshot = evidently.Report(metrics, include_tests=False).run(
        dataset(current), dataset(reference.train)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(path))
    return path


def report_path(reports_dir: Path, day: dt.date) -> Path:
    return reports_dir / "drift" / f"drift_{day.isoformat()}.html"
