"""A flight never sees its own outcome, nor any outcome not yet known at its prediction time."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from mlsys_assets.features import FLIGHTS_V1, build_training_set, entity_rows_for_flights
from mlsys_assets.features.catalog import FEATURE_VIEWS
from mlsys_assets.features.offline import compute_all
from mlsys_assets.features.training_set import view_features

from .conftest import END, START

DAY = dt.date(2013, 1, 10)


def test_own_outcome_never_used(warehouse_copy) -> None:
    conn = warehouse_copy
    rows = entity_rows_for_flights(conn, DAY, DAY + dt.timedelta(days=1))
    before = build_training_set(conn, rows)
    # every flight of DAY arrives 500 minutes late (or is cancelled): its own outcome changes
    conn.execute("UPDATE raw.flights SET arr_delay = 500 WHERE flight_date = ?", [DAY])
    compute_all(conn, FEATURE_VIEWS, START, END)
    after = build_training_set(conn, rows)
    same_day = (rows["flight_date"] == pd.Timestamp(DAY)).to_numpy()
    features = FLIGHTS_V1.feature_names
    pd.testing.assert_frame_equal(before.loc[same_day, features], after.loc[same_day, features])
    # ... and the next day does see it (the test is not vacuous)
    assert (after.loc[~same_day, "carrier_mean_arr_delay_1d"] > 100).all()


def test_outcomes_counted_only_once_available(warehouse_copy) -> None:
    """Recount each feature from raw rows known strictly before the prediction time."""
    conn = warehouse_copy
    # a late file: the outcomes of DAY's AA flights only became available three days later
    conn.execute(
        "UPDATE raw.flights SET outcome_available_at = outcome_available_at + INTERVAL 3 DAY "
        "WHERE flight_date = ? AND carrier = 'AA'",
        [DAY],
    )
    compute_all(conn, FEATURE_VIEWS, START, END)
    rows = entity_rows_for_flights(conn, DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=4))
    out = build_training_set(conn, rows)
    conn.register("out_df", out)
    recount = conn.execute(
        """
        SELECT o.carrier_flights_7d AS feature, (
            SELECT count(f.arr_delay) FROM raw.flights f
            WHERE f.carrier = o.carrier
              AND f.outcome_available_at < o.event_timestamp
              AND f.outcome_available_at <= (
                  SELECT max(g.outcome_available_at) FROM raw.flights g
                  WHERE g.outcome_available_at < o.event_timestamp)
              AND f.flight_date >= CAST(timezone('America/New_York', timezone('UTC', o.event_timestamp)) AS DATE) - 7
        ) AS recount
        FROM out_df o WHERE o.carrier = 'AA'
        """
    ).df()
    conn.unregister("out_df")
    assert len(recount) > 100
    assert (recount["feature"] == recount["recount"]).all()
    # the late outcomes are missing from the 1-day window of DAY+1, present once known
    aa = out[out["carrier"] == "AA"]
    next_day = aa[aa["flight_date"] == pd.Timestamp(DAY + dt.timedelta(days=1))]
    assert (next_day["carrier_flights_1d"] == 0).all()


def test_every_used_value_is_older_than_the_row(base_conn) -> None:
    rows = entity_rows_for_flights(base_conn, START, END)
    feats = view_features(base_conn, rows, FLIGHTS_V1.views, event_times=True)
    ts = rows["event_timestamp"].to_numpy()
    for view in FLIGHTS_V1.views:
        used = feats[f"__event_time_{view.name}"]
        assert used.notna().any(), view.name
        assert (used[used.notna()].to_numpy() < ts[used.notna().to_numpy()]).all(), view.name
