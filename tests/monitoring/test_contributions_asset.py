"""The daily contributions asset runs over a range of days in one run, as every monitoring
asset does in a catch-up (the demo's weekly monitoring run)."""

from __future__ import annotations

import dagster as dg
import duckdb

from mlsys_assets.monitoring.explanations import feature_contributions
from tests.monitoring.conftest import resources


def test_a_range_run_materializes_every_day(settings) -> None:
    result = dg.materialize(
        [feature_contributions],
        resources=resources(settings),
        tags={
            "dagster/asset_partition_range_start": "2013-01-02",
            "dagster/asset_partition_range_end": "2013-01-04",
        },
    )
    assert result.success
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'monitoring' AND table_name = 'feature_contributions'"
        ).fetchone()[0]
    assert tables == 1
