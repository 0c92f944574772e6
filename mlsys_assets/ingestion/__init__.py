"""The ingestion layer: three real sources into DuckDB's ``raw`` schema, with contracts,
quarantine, reconciliation and freshness. ``build_defs`` is what ``definitions.py`` merges."""

from __future__ import annotations

import dagster as dg


def build_defs() -> dg.Definitions:
    """The ingestion assets and their checks (the landing sensor lives in ``mlsys_assets.loop``)."""
    from mlsys_assets.ingestion.assets import ASSETS, CHECKS

    return dg.Definitions(assets=ASSETS, asset_checks=CHECKS)
