"""The ingestion layer: three real sources into DuckDB's ``raw`` schema, with contracts,
quarantine, reconciliation and freshness. ``build_defs`` is what ``definitions.py`` merges."""

from __future__ import annotations

import dagster as dg


def build_defs() -> dg.Definitions:
    """The ingestion assets, their checks and the landing sensor (resources bound elsewhere)."""
    from mlsys_assets.ingestion.assets import ASSETS, CHECKS
    from mlsys_assets.ingestion.sensors import new_landing_data

    return dg.Definitions(assets=ASSETS, asset_checks=CHECKS, sensors=[new_landing_data])
