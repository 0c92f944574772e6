"""Operations from the prediction log: volume, latency percentiles, errors and fallbacks per day.

Latency is serving's own measurement per answer (a batch's time shared by its flights); an
"error" is an answer whose model failed to predict or that had no model at all, a "fallback" any
answer that left the normal path (store down, previous champion, baseline).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlsys_assets.monitoring.prediction_log import has_fallback

COLUMNS = ["requests", "champion", "challenger", "fallback", "latency_p50_ms", "latency_p95_ms",
           "latency_p99_ms", "latency_max_ms", "peak_per_minute", "error_rate", "fallback_rate",
           "missing_feature_rate", "model_versions"]  # fmt: skip


def _is_error(fallbacks: object) -> bool:
    if fallbacks is None:
        return False
    return any(str(r).endswith("_failed") or str(r) == "no_model" for r in list(fallbacks))


def operations(predictions: pd.DataFrame) -> pd.DataFrame:
    """One row of operational figures for the day's logged predictions (empty if none)."""
    if predictions.empty:
        return pd.DataFrame(columns=COLUMNS)
    latency = predictions["latency_ms"].astype("float64").to_numpy()
    per_minute = pd.to_datetime(predictions["logged_at"]).dt.floor("min").value_counts()
    variants = predictions["variant"].value_counts()
    missing = predictions["missing_features"].map(lambda m: m is not None and len(m) > 0)
    p50, p95, p99 = np.nanpercentile(latency, [50, 95, 99])
    versions = sorted({str(v) for v in predictions["model_version"].dropna()})
    row = {
        "requests": len(predictions),
        "champion": int(variants.get("champion", 0)),
        "challenger": int(variants.get("challenger", 0)),
        "fallback": int(variants.get("fallback", 0)),
        "latency_p50_ms": float(p50),
        "latency_p95_ms": float(p95),
        "latency_p99_ms": float(p99),
        "latency_max_ms": float(np.nanmax(latency)),
        "peak_per_minute": int(per_minute.max()),
        "error_rate": float(predictions["fallbacks"].map(_is_error).mean()),
        "fallback_rate": float(has_fallback(predictions).mean()),
        "missing_feature_rate": float(missing.mean()),
        "model_versions": ",".join(versions),
    }
    return pd.DataFrame([row], columns=COLUMNS)
