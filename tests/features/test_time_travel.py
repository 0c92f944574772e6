"""Time travel: data added or changed after time t never changes a feature at or before t.

Property-based: hypothesis draws t and a set of later changes (new flights, changed outcomes,
revised weather, a new plane version), the features are recomputed from scratch, and every row
at or before t, as well as the ``as_of=t`` view of every row, must be identical.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path

import duckdb
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlsys_assets.features import FLIGHTS_V1, build_training_set, entity_rows_for_flights
from mlsys_assets.features.catalog import FEATURE_VIEWS
from mlsys_assets.features.offline import compute_all

from .conftest import END, START

changes = st.fixed_dictionaries(
    {
        "new_flights": st.integers(min_value=0, max_value=400),
        "delay_shift": st.floats(min_value=-60, max_value=300, allow_nan=False),
        "changed_share": st.floats(min_value=0.0, max_value=1.0),
        "temp_shift": st.floats(min_value=-30, max_value=30, allow_nan=False),
        "new_plane_version": st.booleans(),
        "seed": st.integers(min_value=0, max_value=10_000),
    }
)


def _apply_later_changes(conn: duckdb.DuckDBPyConnection, t: dt.datetime, c: dict) -> None:
    """Change only what becomes available after t."""
    # new flights: scheduled (known a day ahead) and completed after t
    conn.execute(
        f"""
        INSERT INTO raw.flights
        SELECT flight_date, carrier, flight + 10000, origin, dest, tailnum, sched_dep_time,
               sched_arr_time, scheduled_departure, dep_time, arr_time, dep_delay,
               arr_delay + 30, air_time, distance, cancelled, outcome_available_at,
               source_file, ingested_at
        FROM raw.flights
        WHERE date_trunc('hour', scheduled_departure) - INTERVAL 1 DAY > $t
        ORDER BY hash(carrier || flight || origin || {c["seed"]})
        LIMIT {c["new_flights"]}
        """,
        {"t": t},
    )
    # revised outcomes, for flights whose outcome was not known at t yet
    conn.execute(
        f"""
        UPDATE raw.flights SET arr_delay = arr_delay + $shift
        WHERE outcome_available_at > $t
          AND (hash(carrier || flight || origin || {c["seed"]}) % 1000) < $share * 1000
        """,
        {"t": t, "shift": c["delay_shift"], "share": c["changed_share"]},
    )
    conn.execute(
        "UPDATE raw.weather SET temp = temp + $shift WHERE available_at > $t",
        {"t": t, "shift": c["temp_shift"]},
    )
    if c["new_plane_version"]:
        conn.execute(
            """
            INSERT INTO raw.planes
            SELECT tailnum, year, type, manufacturer, model, engines, seats + 10, speed, engine,
                   $t + INTERVAL 1 SECOND, NULL, ingested_at
            FROM raw.planes WHERE tailnum IN (SELECT tailnum FROM raw.flights LIMIT 50)
            """,
            {"t": t},
        )


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    t=st.datetimes(min_value=dt.datetime(2013, 1, 3), max_value=dt.datetime(2013, 1, 15)),
    change=changes,
)
def test_changes_after_t_leave_features_at_or_before_t_unchanged(
    base_warehouse: Path, t: dt.datetime, change: dict
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "w.duckdb"
        shutil.copy(base_warehouse, path)
        conn = duckdb.connect(str(path))
        try:
            rows = entity_rows_for_flights(conn, START, END)
            early = rows[rows["event_timestamp"] <= pd.Timestamp(t)]
            before = build_training_set(conn, early)
            before_as_of = build_training_set(conn, rows, as_of=t)
            before_all = build_training_set(conn, rows)

            _apply_later_changes(conn, t, change)
            compute_all(conn, FEATURE_VIEWS, START, END)

            after = build_training_set(conn, early)
            after_as_of = build_training_set(conn, rows, as_of=t)
            after_all = build_training_set(conn, rows)
        finally:
            conn.close()
    features = FLIGHTS_V1.feature_names
    pd.testing.assert_frame_equal(before[features], after[features])
    pd.testing.assert_frame_equal(before_as_of[features], after_as_of[features])
    if change["changed_share"] > 0.2 and abs(change["delay_shift"]) > 1:
        # not vacuous: the same changes do move the features of later rows
        col = "carrier_mean_arr_delay_28d"
        assert not before_all[col].equals(after_all[col])
