"""Missing features as a monitored fact: per feature, the share of live requests that did not
get it, against the share of training rows that did not have it.

A model imputes a missing value the way it learned to; a feature missing far more often live
than in training is a model answering a different question (a request asked before the data was
there, a stale online store, a broken stream). Some features are legitimately absent (a plane
with no record, the first days of the year, a calm day with no wind gust reported), so the
excess is judged over the larger of two expectations: the training set's missing share, and the
offline point-in-time missing share of the same flights at the same moments (what training
would have seen for exactly this traffic). A calm day does not raise the alarm; a serving path
that asks too early, or an online store that fell behind, does. A source that broke for
everyone (offline too) is the data-quality check's to catch.
"""

from __future__ import annotations

import pandas as pd

from mlsys_assets.features.catalog import SERVED
from mlsys_assets.monitoring.prediction_log import served_features

COLUMNS = [
    "feature", "live_missing_share", "training_missing_share", "offline_missing_share", "excess",
    "requests",
]  # fmt: skip


def feature_coverage(
    predictions: pd.DataFrame, training: pd.DataFrame | None, offline: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per feature of the service, worst excess first (empty without predictions).

    ``offline``: the point-in-time features of the same requests (``skew.offline_features``).
    """
    if predictions.empty:
        return pd.DataFrame(columns=COLUMNS)
    served = served_features(predictions)
    names = [f.name for f in SERVED.features]
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
    if offline is not None and len(offline):
        same = offline.reindex(columns=names).isna().mean().reindex(names).to_numpy()
    else:
        same = float("nan")
    frame["offline_missing_share"] = same
    expected = frame[["training_missing_share", "offline_missing_share"]].max(axis=1)
    frame["excess"] = frame["live_missing_share"] - expected.fillna(0.0)
    frame["requests"] = len(served)
    return frame.sort_values("excess", ascending=False, kind="stable").reset_index(drop=True)
