"""The carrier-and-hour baseline: the historical delay rate per carrier and local hour.

It is the yardstick a model must beat in evaluation and, saved as ``baseline.json`` with each
model version, serving's last-resort answer when neither model nor features are usable.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlsys_assets.model_contract import Baseline, local_departure_hour

SMOOTHING = 20.0  # pseudo-flights pulling a sparse cell towards its carrier's (or global) rate


def fit_baseline(frame: pd.DataFrame) -> Baseline:
    """Smoothed weighted delay rates of ``frame`` (its label, weight, carrier, departure)."""
    weight = frame["weight"].astype("float64")
    label = frame["label"].astype("float64")
    data = pd.DataFrame(
        {
            "carrier": frame["carrier"].astype(str),
            "hour": local_departure_hour(frame["scheduled_departure"]),
            "w": weight,
            "wy": weight * label,
        }
    )
    global_rate = float(data["wy"].sum() / data["w"].sum())
    by_carrier = data.groupby("carrier")[["w", "wy"]].sum()
    carrier = (by_carrier["wy"] + SMOOTHING * global_rate) / (by_carrier["w"] + SMOOTHING)
    cells = data.groupby(["carrier", "hour"])[["w", "wy"]].sum().reset_index()
    prior = cells["carrier"].map(carrier)
    cell_rate = (cells["wy"] + SMOOTHING * prior) / (cells["w"] + SMOOTHING)
    rates = {
        Baseline.key(c, h): round(float(r), 6)
        for c, h, r in zip(cells["carrier"], cells["hour"], cell_rate, strict=True)
    }
    return Baseline(
        rates=rates,
        carrier={c: round(float(r), 6) for c, r in carrier.items()},
        global_rate=round(global_rate, 6),
    )


def predict_baseline(baseline: Baseline, frame: pd.DataFrame) -> np.ndarray:
    """The baseline's probability for each flight of ``frame``."""
    hours = local_departure_hour(frame["scheduled_departure"])
    return np.array(
        [
            baseline.probability(c, h)
            for c, h in zip(frame["carrier"].astype(str), hours, strict=True)
        ],
        dtype="float64",
    )
