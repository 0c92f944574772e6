"""Training/serving skew: the features served online against the offline point-in-time values.

For each logged prediction, the feature store rebuilds the flight's features offline as of the
moment serving looked them up (``feature_time``); every feature must be equal (numbers to a
relative 1e-6, missing equals missing). Answers served without the online store (a fallback)
are left out: their stored features were missing on purpose and are counted by operations.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from mlsys_assets.features import build_training_set
from mlsys_assets.features.catalog import SERVED
from mlsys_assets.monitoring.prediction_log import served_features

STORE_DOWN = "online_store_unavailable"
REL_TOL = 1e-6
ENTITY = ["flight_date", "carrier", "flight", "origin", "dest", "tailnum", "scheduled_departure",
          "distance"]  # fmt: skip


def offline_features(conn: duckdb.DuckDBPyConnection, predictions: pd.DataFrame) -> pd.DataFrame:
    """Offline point-in-time features of the logged flights at their serving feature time."""
    entities = predictions[ENTITY].copy()
    entities["event_timestamp"] = pd.to_datetime(predictions["feature_time"])
    entities["arr_delay"] = np.nan
    entities["cancelled"] = False
    return build_training_set(conn, entities.reset_index(drop=True), service=SERVED)


def _equal(online: pd.Series, offline: pd.Series, categorical: bool) -> pd.Series:
    both_missing = online.isna() & offline.isna()
    if categorical:
        same = online.astype("object").astype(str) == offline.astype("object").astype(str)
        return both_missing | (same & online.notna() & offline.notna())
    a = pd.to_numeric(online, errors="coerce").astype("float64").to_numpy()
    b = pd.to_numeric(offline, errors="coerce").astype("float64").to_numpy()
    close = np.isclose(a, b, rtol=REL_TOL, atol=1e-9)
    return pd.Series(both_missing.to_numpy() | close, index=online.index)


def compare(
    conn: duckdb.DuckDBPyConnection, predictions: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-feature mismatch table, per-row mismatches) for the day's logged predictions."""
    store_ok = ~predictions["fallbacks"].map(lambda f: f is not None and STORE_DOWN in list(f))
    logged = predictions[store_ok].reset_index(drop=True)
    columns = ["feature", "compared", "mismatches", "mismatch_rate", "example"]
    if logged.empty:
        return pd.DataFrame(columns=columns), pd.DataFrame()
    online = served_features(logged)
    offline = offline_features(conn, logged)
    rows, mismatched = [], []
    categorical = set(SERVED.categorical_features)
    for name in SERVED.feature_names:
        served = online[name] if name in online else pd.Series(None, index=logged.index)
        equal = _equal(served, offline[name], name in categorical)
        bad = ~equal
        example = ""
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            example = (
                f"request {logged['request_id'].iloc[i]}: online={served.iloc[i]!r} "
                f"offline={offline[name].iloc[i]!r}"
            )
            mismatched.append(
                pd.DataFrame(
                    {
                        "request_id": logged["request_id"][bad],
                        "feature": name,
                        "online": served[bad].astype(str),
                        "offline": offline[name][bad].astype(str),
                    }
                )
            )
        rows.append(
            {
                "feature": name,
                "compared": len(logged),
                "mismatches": int(bad.sum()),
                "mismatch_rate": float(bad.mean()),
                "example": example,
            }
        )
    detail = pd.concat(mismatched, ignore_index=True) if mismatched else pd.DataFrame()
    return pd.DataFrame(rows, columns=columns), detail
