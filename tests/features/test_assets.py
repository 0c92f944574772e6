"""The feature layer's Dagster assets and checks, run in process on a real warehouse."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import duckdb

from mlsys_assets.features import build_defs
from mlsys_assets.features.assets import FEATURE_TABLE_ASSETS, online_features
from mlsys_assets.features.checks import build_checks
from mlsys_assets.resources import build_resources
from tests.reference_data import load_reference


def test_assets_materialize_and_checks_pass(settings) -> None:
    settings.home_dir.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect(str(settings.warehouse_path))
    load_reference(conn, dt.date(2013, 1, 1), dt.date(2013, 1, 7))
    conn.close()
    resources = build_resources(settings)
    partitioned = [a for a in FEATURE_TABLE_ASSETS if a.partitions_def is not None]
    others = [a for a in FEATURE_TABLE_ASSETS if a.partitions_def is None]
    ranged = dg.materialize(
        partitioned,
        resources=resources,
        tags={
            "dagster/asset_partition_range_start": "2013-01-01",
            "dagster/asset_partition_range_end": "2013-01-07",
        },
    )
    assert ranged.success
    result = dg.materialize([*others, online_features, *build_checks()], resources=resources)
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    names = {e.check_name for e in evaluations}
    assert {"online_offline_parity", "online_freshness", "no_leakage"} <= names
    assert all(e.passed for e in evaluations), [e for e in evaluations if not e.passed]
    parity = next(e for e in evaluations if e.check_name == "online_offline_parity")
    assert parity.metadata["mismatches"].value == 0
    assert parity.metadata["sampled_rows"].value > 0


def test_definitions_show_schemas_and_descriptions() -> None:
    assert build_defs().assets is not None
    specs = {s.key.to_user_string(): s for a in FEATURE_TABLE_ASSETS for s in a.specs}
    weather = specs["origin_weather"]
    assert weather.group_name == "features"
    assert "stale" in (weather.description or "")
    schema = weather.metadata["dagster/column_schema"]
    assert "weather_temp" in {c.name for c in schema.columns}
    assert dg.AssetKey("raw_weather") in {d.asset_key for d in weather.deps}
