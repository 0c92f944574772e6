"""The training-set join: point-in-time correct, row-preserving, equal to a hand-written ASOF JOIN."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlsys_assets.features import FLIGHTS_V1, build_training_set, entity_rows_for_flights
from mlsys_assets.features.catalog import ORIGIN_WEATHER, PLANE_ATTRIBUTES
from mlsys_assets.features.offline import compute_view

from .conftest import END, START


def test_entity_rows_one_per_flight_with_prediction_time(base_conn) -> None:
    rows = entity_rows_for_flights(base_conn, START, END)
    n = base_conn.execute("SELECT count(*) FROM raw.flights").fetchone()[0]
    assert len(rows) == n
    assert (rows["scheduled_departure"] - rows["event_timestamp"] == pd.Timedelta(hours=1)).all()
    later = entity_rows_for_flights(base_conn, START, START, lead=dt.timedelta(hours=3))
    assert (later["scheduled_departure"] - later["event_timestamp"] == pd.Timedelta(hours=3)).all()


def test_service_contract() -> None:
    names = FLIGHTS_V1.feature_names
    assert FLIGHTS_V1.name == "flights_v1"
    assert len(names) == len(set(names))
    assert {"carrier", "origin", "dest", "plane_manufacturer"} <= set(
        FLIGHTS_V1.categorical_features
    )
    assert {"arr_delay", "cancelled"}.isdisjoint(names)
    for prefix in ("carrier", "origin", "dest", "route"):
        for days in (1, 7, 28):
            assert f"{prefix}_late_share_{days}d" in names
            assert f"{prefix}_flights_{days}d" in names


def test_matches_hand_written_asof_join(base_conn) -> None:
    """An independent DuckDB ASOF JOIN per view (written here, not generated) agrees row for row."""
    rows = entity_rows_for_flights(base_conn, dt.date(2013, 1, 5), dt.date(2013, 1, 12))
    got = build_training_set(base_conn, rows)
    base_conn.register("rows_df", rows.assign(rid=np.arange(len(rows))))
    expected = base_conn.execute(
        """
        SELECT r.rid,
          CASE WHEN r.event_timestamp - c.event_timestamp <= INTERVAL 2 DAY THEN c.carrier_late_share_7d END AS carrier_late_share_7d,
          CASE WHEN r.event_timestamp - c.event_timestamp <= INTERVAL 2 DAY THEN c.carrier_flights_28d END AS carrier_flights_28d,
          CASE WHEN r.event_timestamp - rt.event_timestamp <= INTERVAL 2 DAY THEN rt.route_mean_arr_delay_1d END AS route_mean_arr_delay_1d,
          CASE WHEN r.event_timestamp - w.event_timestamp <= INTERVAL 3 HOUR THEN w.weather_temp END AS weather_temp,
          CASE WHEN r.event_timestamp - w.event_timestamp <= INTERVAL 3 HOUR THEN w.weather_wind_gust END AS weather_wind_gust,
          g.origin_departures_hour, g.origin_departures_prev_hour,
          p.plane_seats, p.plane_manufacturer, year(r.event_timestamp) - p.plane_year_built AS plane_age
        FROM rows_df r
        ASOF LEFT JOIN features.carrier_delay_stats c
          ON r.carrier = c.carrier AND r.event_timestamp > c.event_timestamp
        ASOF LEFT JOIN features.route_delay_stats rt
          ON r.origin = rt.origin AND r.dest = rt.dest AND r.event_timestamp > rt.event_timestamp
        ASOF LEFT JOIN features.origin_weather w
          ON r.origin = w.origin AND r.event_timestamp > w.event_timestamp
        ASOF LEFT JOIN features.origin_congestion g
          ON r.origin = g.origin AND date_trunc('hour', r.scheduled_departure) = g.dep_hour
          AND r.event_timestamp > g.event_timestamp
        ASOF LEFT JOIN features.plane_attributes p
          ON r.tailnum = p.tailnum AND r.event_timestamp > p.event_timestamp
        ORDER BY r.rid
        """
    ).df()
    base_conn.unregister("rows_df")
    assert len(expected) == len(got)
    for col in expected.columns.drop("rid"):
        pd.testing.assert_series_equal(
            got[col].reset_index(drop=True), expected[col], check_names=False, check_dtype=False
        )
    # the comparison is not vacuous
    assert got["weather_temp"].notna().mean() > 0.9
    assert got["carrier_late_share_7d"].notna().mean() > 0.9


def test_every_row_once_in_order_with_nulls_and_duplicates(base_conn) -> None:
    rows = entity_rows_for_flights(base_conn, dt.date(2013, 1, 10), dt.date(2013, 1, 10))
    rows = rows.sample(frac=1.0, random_state=7).head(300)  # any order
    twin = rows.iloc[[5, 5]]  # two rows sharing entity key and timestamp
    lonely = rows.iloc[[0]].copy()  # nothing within TTL: long after the data ends
    lonely["event_timestamp"] = pd.Timestamp("2013-03-01 12:00")
    lonely["scheduled_departure"] = pd.Timestamp("2013-03-01 13:00")
    frame = pd.concat([twin, rows, lonely, twin])
    frame.index = pd.RangeIndex(1000, 1000 + len(frame))  # index is kept as given

    out = build_training_set(base_conn, frame)

    assert len(out) == len(frame)
    assert out.index.equals(frame.index)
    pd.testing.assert_frame_equal(out[frame.columns], frame)
    features = FLIGHTS_V1.feature_names
    first, second = out.iloc[0], out.iloc[1]
    pd.testing.assert_series_equal(first[features], second[features], check_names=False)
    pd.testing.assert_series_equal(out.iloc[0][features], out.iloc[-1][features], check_names=False)
    last_lonely = out.iloc[-3]
    assert np.isnan(last_lonely["weather_temp"])  # stale by 7 weeks: null, row kept
    assert np.isnan(last_lonely["carrier_late_share_28d"])
    assert last_lonely["month"] == 3.0  # request features still computed


def test_each_row_gets_the_same_values_in_any_row_order(base_conn) -> None:
    """Rows in time order are ranked among a view's event times by searching the rows (the
    fast path); shuffled rows by searching the event times: the values are the same, and a
    row without an aircraft or outside every table still gets nulls."""
    rows = entity_rows_for_flights(base_conn, dt.date(2013, 1, 5), dt.date(2013, 1, 12))
    rows.loc[rows.index[::53], "tailnum"] = None
    rows.loc[rows.index[::71], "dest"] = "XXX"  # a route no table knows
    ordered = build_training_set(base_conn, rows)
    shuffle = np.random.default_rng(1).permutation(len(rows))
    shuffled = build_training_set(base_conn, rows.iloc[shuffle])
    pd.testing.assert_frame_equal(shuffled, ordered.iloc[shuffle])
    assert ordered["plane_seats"].iloc[::53].isna().all()
    assert ordered["route_mean_arr_delay_1d"].iloc[::71].isna().all()
    assert ordered["route_mean_arr_delay_1d"].notna().mean() > 0.8


def test_stale_weather_is_missing(warehouse_copy) -> None:
    conn = warehouse_copy
    # the observations of 06:00-11:00 UTC at JFK on Jan 10 never arrived
    conn.execute(
        "DELETE FROM raw.weather WHERE origin = 'JFK' "
        "AND time_hour BETWEEN TIMESTAMP '2013-01-10 06:00' AND TIMESTAMP '2013-01-10 11:00'"
    )
    compute_view(conn, ORIGIN_WEATHER, START, END)
    last_known = conn.execute(
        "SELECT max(event_timestamp) FROM features.origin_weather WHERE origin = 'JFK' "
        "AND event_timestamp < TIMESTAMP '2013-01-10 08:00'"
    ).fetchone()[0]
    rows = pd.DataFrame(
        {
            "carrier": "AA",
            "origin": "JFK",
            "dest": "MIA",
            "tailnum": None,
            "distance": 1089.0,
            "event_timestamp": [
                last_known + dt.timedelta(hours=3),  # exactly the TTL: served
                last_known + dt.timedelta(hours=3, seconds=1),  # past it: missing
            ],
        }
    )
    rows["scheduled_departure"] = rows["event_timestamp"] + pd.Timedelta(hours=1)
    out = build_training_set(conn, rows)
    assert not np.isnan(out.loc[0, "weather_temp"])
    assert out.loc[1, ORIGIN_WEATHER_FEATURES].isna().all()


ORIGIN_WEATHER_FEATURES = [f.name for f in ORIGIN_WEATHER.features]


def test_plane_as_it_was_at_the_feature_time(warehouse_copy) -> None:
    conn = warehouse_copy
    # N10156 is refitted on Jan 8: a new version from then, the old one closed
    conn.execute(
        "UPDATE raw.planes SET valid_to = TIMESTAMP '2013-01-08 00:00' WHERE tailnum = 'N10156'"
    )
    conn.execute(
        "INSERT INTO raw.planes SELECT tailnum, year, type, manufacturer, model, engines, 70, "
        "speed, engine, TIMESTAMP '2013-01-08 00:00', NULL, ingested_at "
        "FROM raw.planes WHERE tailnum = 'N10156'"
    )
    compute_view(conn, PLANE_ATTRIBUTES, START, END)
    times = pd.to_datetime(["2013-01-07 12:00", "2013-01-08 00:00", "2013-01-09 12:00"])
    rows = pd.DataFrame(
        {"carrier": "EV", "origin": "EWR", "dest": "ORD", "tailnum": "N10156"}, index=range(3)
    )
    rows["event_timestamp"] = times
    rows["scheduled_departure"] = times + pd.Timedelta(hours=1)
    rows["distance"] = 719.0
    out = build_training_set(conn, rows)
    # before the refit: 55 seats; at exactly 00:00 the new version is not yet known (strictly
    # before) and the old one is still valid; after: 70 seats
    assert out["plane_seats"].tolist() == [55.0, 55.0, 70.0]
    assert out["plane_age"].tolist() == [9.0, 9.0, 9.0]
    # time travel: as known on Jan 8 06:00 the old version was closed, the new one known
    travel = build_training_set(conn, rows, as_of=dt.datetime(2013, 1, 7, 23, 0))
    assert travel["plane_seats"].tolist() == [55.0, 55.0, 55.0]


def test_string_keys_are_coded_as_pandas_factorizes_them() -> None:
    """The string hash table shortcut gives pd.factorize's codes, missing values of any kind
    included, and leaves a column that is not all strings to pd.factorize."""
    from mlsys_assets.features.training_set import _string_key

    columns = [
        pd.Series(["N1", "N2", "N1", "N3"], dtype=object),
        pd.Series(["N1", None, "N2", np.nan, "N1", pd.NA], dtype=object),
        pd.Series(["N1", 7, "N1", None], dtype=object),  # not all strings
        pd.Series([3, 1, 3]),  # not an object column: its values as strings
    ]
    for column in columns:
        codes, uniques = pd.factorize(column)
        key = _string_key(column)
        assert np.array_equal(key.codes, codes)
        assert key.uniques.dtype == object
        expected = list(uniques) if column.dtype == object else [str(u) for u in uniques]
        assert list(key.uniques) == expected


def test_calendar_features_are_the_same_for_departures_in_any_order() -> None:
    """Departures in time order are numbered by hour without hashing; any other order is
    factorized: each departure gets the calendar of its own hour either way, none for NaT."""
    from mlsys_assets.features.request import calendar_columns, calendar_features

    departures = pd.Series(
        pd.to_datetime(["2013-07-03 22:10", "2013-07-04 04:00", "2013-07-04 04:59"] * 2)
    ).sort_values(ignore_index=True)
    ordered = calendar_columns(departures)
    shuffled = calendar_columns(departures.iloc[[3, 0, 5, 1, 4, 2]].reset_index(drop=True))
    for i, (name, values) in enumerate(ordered.items()):
        assert np.array_equal(values[[3, 0, 5, 1, 4, 2]], shuffled[name]), name
        hours = [d.to_pydatetime().replace(minute=0) for d in departures]
        assert list(values) == [calendar_features(h)[i] for h in hours]
    with_missing = calendar_columns(pd.concat([departures, pd.Series([pd.NaT])]))
    assert np.isnan(with_missing["hour"][-1])


@pytest.mark.parametrize(("few_per_key", "arrow_keys"), [(0, False), (4, False), (4, True)])
def test_sparse_as_of_lookups_pick_the_newest_row_before_each_time(
    few_per_key, arrow_keys, monkeypatch
) -> None:
    """Many keys x many times: the sparse lookups (each key's few rows tried in turn, or a
    binary search) pick the same table row as a plain reading of the rule: same key, newest
    event time strictly before the row's, the last row of a tie; none for a key not in the
    table, a missing key or a missing time."""
    from dataclasses import replace

    from mlsys_assets.features import training_set

    monkeypatch.setattr(training_set, "_FEW_PER_KEY", few_per_key)
    rng = np.random.default_rng(few_per_key)
    view = replace(PLANE_ATTRIBUTES, ttl=None, has_valid_to=False)
    keys = rng.permutation(np.repeat(np.arange(300), 3))  # three rows per key
    times = rng.integers(0, 400, len(keys)) * 1_000_000
    tails_of_table = [f"N{k}" for k in keys]
    tails_of_table[::29] = [None] * len(tails_of_table[::29])  # a table row without a key
    table = {
        "tailnum": (
            pa.chunked_array([tails_of_table[:500], tails_of_table[500:]])  # as read: Arrow
            if arrow_keys
            else np.array(tails_of_table, dtype=object)
        ),
        "event_timestamp": times.view("datetime64[us]"),
    }
    tails = pd.Series([f"N{k}" for k in rng.integers(0, 320, 500)], dtype=object)
    tails[::37] = None
    ts = rng.integers(0, 420, 500) * 1_000_000
    ts[::41] = np.iinfo("int64").min  # NaT
    rows = training_set._Rows(
        ts=ts,
        valid=ts != np.iinfo("int64").min,
        keys={"tailnum": training_set._string_key(tails)},
        years=np.zeros(len(ts)),
    )
    got = training_set._asof(view, table, rows).positions
    for i, (tail, t) in enumerate(zip(tails, ts, strict=True)):
        mine = [
            j for j, k in enumerate(tails_of_table) if k is not None and k == tail and times[j] < t
        ]
        newest = max(mine, key=lambda j: (times[j], j)) if mine else len(keys)
        assert got[i] == newest, (i, tail, t)
