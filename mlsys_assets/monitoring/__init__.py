"""Monitoring: data quality, drift, prediction drift, live and estimated performance, skew, operations.

Public API for other layers (sensors, CLI): ``latest_drift_share(conn, day=None)``,
``drift_scores(conn, day)``, ``read_predictions(settings, start, end)``, ``read_feedback(settings)``.
"""

from __future__ import annotations

import dagster as dg

from mlsys_assets.monitoring.prediction_log import read_feedback, read_predictions
from mlsys_assets.monitoring.store import drift_scores, history, latest_drift_share

__all__ = [
    "build_defs",
    "drift_scores",
    "history",
    "latest_drift_share",
    "read_feedback",
    "read_predictions",
]


def build_defs() -> dg.Definitions:
    """The monitoring group's assets and their checks (resource: ``warehouse``)."""
    from mlsys_assets.monitoring import explanations
    from mlsys_assets.monitoring.assets import ASSETS

    return dg.Definitions(assets=[*ASSETS, *explanations.ASSETS])
