"""The training layer: dataset selection, temporal splits, search, XGBoost, evaluation.

Plain functions live in the modules (``pipeline.train_model`` chains them); ``build_defs``
gives the Dagster assets of the ``training`` group.
"""

from __future__ import annotations

import dagster as dg


def build_defs() -> dg.Definitions:
    """The training group's assets (resources: ``warehouse``, ``tracking``)."""
    from mlsys_assets.training.assets import ASSETS

    return dg.Definitions(assets=ASSETS)
