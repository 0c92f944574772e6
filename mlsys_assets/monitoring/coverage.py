"""Missing features as a monitored fact: per feature, the share of live requests that did not
get it, against the share of training rows that did not have it.

A model imputes a missing value the way it learned to; a feature missing far more often live
than in training is a model answering a different question (a request asked before the data was
there, a stale online store, a broken stream). The excess over training is what is judged:
some features are legitimately absent in both (a plane with no record, the first days of the
year), and those are not the serving system's fault.
"""

from __future__ import annotations

import pandas as pd

from mlsys_assets.features.catalog import FLIGHTS_V1
from mlsys_assets.monitoring.prediction_log import served_features

COLUMNS = ["feature", "live_missing_share", "training_missing_share", "excess", "requests"]


def feature_coverage(predictions: pd.DataFrame, training: pd.DataFrame | None) -> pd.DataFrame:
    """One row per feature of the service, worst excess first (empty without predictions)."""
    if predictions.empty:
        return pd.DataFrame(columns=COLUMNS)
    served = served_features(predictions)
    names = [f.name for f in FLIGHTS_V1.features]
    served = served.reindex(columns=names)
    live = served.isna().mean()
    if training is not None and len(training):
        train = training.reindex(columns=names).isna().mean()
    else:
        train = pd.Series(float("nan"), index=names)
    frame = pd.DataFrame(
        {
            "feature": names,
            "live_missing_share": live.reindex(names).to_numpy(),
            "training_missing_share": train.reindex(names).to_numpy(),
        }
    )
    frame["excess"] = frame["live_missing_share"] - frame["training_missing_share"].fillna(0.0)
    frame["requests"] = len(served)
    return frame.sort_values("excess", ascending=False, kind="stable").reset_index(drop=True)
