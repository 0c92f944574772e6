"""Data quality: categories never seen in training, ranges and volume are caught."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import duckdb

from mlsys_assets.monitoring.assets import data_quality
from mlsys_assets.settings import Settings
from tests.monitoring.conftest import resources

DAY = dt.date(2013, 2, 12)


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_a_new_carrier_is_caught(mon: Settings) -> None:
    with duckdb.connect(str(mon.warehouse_path)) as conn:
        # A new airline starts flying: one day's flights of a carrier get a code never seen.
        conn.execute(
            "UPDATE raw.flights SET carrier = 'ZZ' WHERE flight_date = ? AND carrier = 'EV'",
            [DAY],
        )
        renamed = conn.execute(
            "SELECT count(*) FROM raw.flights WHERE flight_date = ? AND carrier = 'ZZ'", [DAY]
        ).fetchone()[0]
        total = conn.execute(
            "SELECT count(*) FROM raw.flights WHERE flight_date = ?", [DAY]
        ).fetchone()[0]
    result = dg.materialize([data_quality], partition_key=DAY.isoformat(), resources=resources(mon))
    checks = _checks(result)
    assert not checks["unseen_categories"].passed
    assert checks["unseen_categories"].severity == dg.AssetCheckSeverity.ERROR  # > 5% of rows
    with duckdb.connect(str(mon.warehouse_path), read_only=True) as conn:
        found = conn.execute(
            "SELECT source, value, detail FROM monitoring.data_quality "
            "WHERE day = ? AND column_name = 'carrier' AND check_name = 'new_category'",
            [DAY],
        ).fetchall()
    assert {row[0] for row in found} == {"raw.flights", "features"}
    for _, value, detail in found:
        assert "ZZ" in detail
        assert abs(value - renamed / total) < 1e-9


def test_a_calm_day_passes_every_check(mon: Settings) -> None:
    result = dg.materialize([data_quality], partition_key="2013-01-24", resources=resources(mon))
    checks = _checks(result)
    assert set(checks) == {"missing_values", "value_ranges", "unseen_categories", "volume"}
    assert all(c.passed for c in checks.values()), {k: c.metadata for k, c in checks.items()}


def test_out_of_range_and_missing_volume(mon: Settings) -> None:
    with duckdb.connect(str(mon.warehouse_path)) as conn:
        conn.execute(
            "UPDATE raw.weather SET temp = 999 WHERE obs_date = ? AND origin = 'JFK'", [DAY]
        )
        conn.execute("DELETE FROM raw.flights WHERE flight_date = ? AND origin = 'EWR'", [DAY])
    checks = _checks(
        dg.materialize([data_quality], partition_key=DAY.isoformat(), resources=resources(mon))
    )
    assert not checks["value_ranges"].passed
    assert "temp" in checks["value_ranges"].metadata["details"].value
    assert not checks["volume"].passed  # a third of the day's flights did not arrive
