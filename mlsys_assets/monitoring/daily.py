"""The day's scored flights: from the prediction log when serving answered, else batch-scored.

Live monitoring should judge what users were told, so the logged probabilities come first. A day
nobody asked about (serving was down, or the day was only replayed) is scored offline by the
reference model on the point-in-time features, so the time series have no holes; the ``source``
column (``log`` or ``batch``) says which.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlsys_assets.monitoring.reference import KEY, SCORE, Reference, scored
from mlsys_assets.settings import Settings

LOG, BATCH = "log", "batch"
COLUMNS = [*KEY, "request_id", "variant", "model_version", SCORE, "threshold", "source",
           "scheduled_departure", "decision"]  # fmt: skip


def day_scores(
    reference: Reference, predictions: pd.DataFrame, features: pd.DataFrame
) -> pd.DataFrame:
    """Scored flights of the day with their variant, model version, threshold and source."""
    if len(predictions):
        out = predictions[[*KEY, "request_id", "variant", "model_version", "threshold"]].copy()
        out[SCORE] = predictions["delay_probability"].astype("float64")
        out["source"] = LOG
        out["scheduled_departure"] = predictions["scheduled_departure"]
        # what the client was told (rules included); the threshold where the log has no answer
        told = predictions["delayed"].astype("boolean")
        out["decision"] = told.fillna(out[SCORE] >= out["threshold"]).astype(bool)
        return out[COLUMNS]
    if reference.bundle is None or features.empty:
        return pd.DataFrame(columns=COLUMNS)
    out = features[KEY].copy()
    out["request_id"] = None
    out["variant"] = "champion"
    out["model_version"] = reference.model.version
    out[SCORE] = scored(reference, features).to_numpy()
    out["threshold"] = reference.model.threshold
    out["source"] = BATCH
    out["scheduled_departure"] = features["scheduled_departure"]
    out["decision"] = out[SCORE] >= out["threshold"]
    return out[COLUMNS]


def prediction_stats(scores: pd.DataFrame, reference: Reference) -> pd.DataFrame:
    """Score distribution and positive rate per variant (and ``all``), beside the reference's."""
    ref = reference.train[SCORE].dropna()
    ref_mean = float(ref.mean()) if len(ref) else None
    ref_rate = float((ref >= reference.model.threshold).mean()) if len(ref) else None
    rows = []
    if scores.empty:
        return pd.DataFrame()
    for variant, part in [("all", scores), *scores.groupby("variant", dropna=False)]:
        s = part[SCORE].astype("float64").to_numpy()
        p10, p50, p90 = np.nanpercentile(s, [10, 50, 90])
        versions = sorted({str(v) for v in part["model_version"].dropna()})
        rows.append(
            {
                "source": str(part["source"].iloc[0]),
                "variant": str(variant),
                "model_version": ",".join(versions) or None,
                "n": len(part),
                "mean_score": float(np.nanmean(s)),
                "p10": float(p10),
                "p50": float(p50),
                "p90": float(p90),
                "positive_rate": float((s >= part["threshold"].astype("float64")).mean()),
                "reference_mean_score": ref_mean,
                "reference_positive_rate": ref_rate,
            }
        )
    return pd.DataFrame(rows)


def reference_or_none(conn: object, settings: Settings) -> Reference | None:
    """The reference of the current champion (or pinned window); None if there is none."""
    from mlsys_assets.monitoring.reference import get_reference, resolve

    found = resolve(settings)
    if found is None:
        return None
    model, bundle = found
    return get_reference(conn, settings, model, bundle)  # type: ignore[arg-type]
