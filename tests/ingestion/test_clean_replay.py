"""A clean replay, ingested through Dagster, equals the direct reference load."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from mlsys_assets.clock import replay_now
from mlsys_assets.ingestion.run import check_results, ingest_range
from tests.ingestion.conftest import CLEAN_UNTIL, copy_home
from tests.reference_data import load_reference

START = dt.date(2013, 1, 1)


@pytest.mark.slow
def test_clean_replay_ingested_equals_reference(clean_source, mlsys_home) -> None:
    settings = copy_home(clean_source, mlsys_home)
    result = ingest_range(settings, START, CLEAN_UNTIL)
    assert result.success
    assert all(check_results(result).values()), check_results(result)
    with duckdb.connect() as ref:
        load_reference(ref, START, CLEAN_UNTIL)
        ref.execute(f"ATTACH '{settings.warehouse_path}' AS wh (READ_ONLY)")
        # Departures known by the replay clock (Jan 3's flights leaving after midnight are not).
        ref.execute("DELETE FROM raw.departures WHERE available_at > ?", [replay_now(settings)])
        for table, drop in (
            ("flights", "ingested_at, source_file"),
            ("weather", "ingested_at, event_offset"),
            ("departures", "ingested_at, event_offset"),
        ):
            query = "SELECT * EXCLUDE ({drop}) FROM {db}.raw.{table} ORDER BY ALL"
            ours = ref.execute(query.format(drop=drop, db="wh", table=table)).fetchall()
            theirs = ref.execute(query.format(drop=drop, db="memory", table=table)).fetchall()
            assert len(ours) > 1000 or table == "weather"
            assert ours == theirs, table
        (held,) = ref.execute("SELECT count(*) FROM wh.raw.quarantine").fetchone()
        (airports,) = ref.execute(
            "SELECT count(*) FROM wh.raw.airports WHERE valid_to IS NULL"
        ).fetchone()
    assert held == 0 and airports == 1458
