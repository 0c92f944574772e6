"""Intraday features: the vectorized functions equal a plain reading of their definitions, and
nothing known at or after t changes a value at t."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlsys_assets.features import intraday
from mlsys_assets.features.intraday import (
    LATE_MINUTES,
    NEVER,
    ORIGIN_WINDOWS,
    US_PER_MINUTE,
    DayFlights,
    carrier_features,
    origin_features,
    plane_features,
    window_label,
)

MIN = US_PER_MINUTE
DAY0 = 1_357_016_400_000_000  # 2013-01-01 05:00 UTC (midnight in New York)


def _random_day(rng: np.random.Generator, tables: int, flights: int) -> DayFlights:
    group = rng.integers(0, tables, flights)
    scheduled = DAY0 + rng.integers(5 * 60, 23 * 60, flights) * MIN
    left = rng.random(flights) < 0.9
    actual = np.where(left, scheduled + rng.integers(-10, 180, flights) * MIN, NEVER)
    late_event = rng.random(flights) < 0.1
    available = np.where(late_event, actual + rng.integers(1, 90, flights) * MIN, actual)
    return DayFlights.build(group, scheduled, actual, np.where(left, available, NEVER))


def _queries(rng: np.random.Generator, tables: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    at = DAY0 + rng.integers(4 * 60, 24 * 60, count) * MIN
    at[: count // 4] -= rng.integers(0, 2, count // 4) * MIN  # some on exact event minutes
    return rng.integers(0, tables + 1, count), at  # group ``tables`` has no flights


def _brute_origin(f: DayFlights, g: int, t: int) -> dict[str, float]:
    out = {}
    for w in ORIGIN_WINDOWS:
        label = window_label(w)
        width = int(w.total_seconds() * 1_000_000)
        rows = [
            i for i in range(len(f.group)) if f.group[i] == g and t - width <= f.scheduled[i] < t
        ]
        delays = [
            (f.actual[i] - f.scheduled[i]) / MIN if f.known[i] < t else (t - f.scheduled[i]) / MIN
            for i in rows
        ]
        out[f"origin_dep_delay_so_far_{label}"] = np.mean(delays) if rows else np.nan
        out[f"origin_late_share_so_far_{label}"] = (
            np.mean([d >= LATE_MINUTES for d in delays]) if rows else np.nan
        )
        out[f"origin_waiting_{label}"] = sum(1 for i in rows if not f.known[i] < t)
        out[f"origin_scheduled_{label}"] = len(rows)
    return out


def _known_before(f: DayFlights, g: int, t: int) -> list[int]:
    return [i for i in range(len(f.group)) if f.group[i] == g and f.known[i] < t]


def _brute_carrier(f: DayFlights, g: int, t: int) -> dict[str, float]:
    delays = [(f.actual[i] - f.scheduled[i]) / MIN for i in _known_before(f, g, t)]
    return {
        "carrier_today_late_share": np.mean([d >= LATE_MINUTES for d in delays])
        if delays
        else np.nan,
        "carrier_today_dep_delay": np.mean(delays) if delays else np.nan,
        "carrier_today_departed": len(delays),
    }


def _brute_plane(f: DayFlights, g: int, t: int) -> dict[str, float]:
    rows = _known_before(f, g, t)
    if not rows:
        return {"plane_prev_dep_delay": np.nan, "plane_prev_minutes_ago": np.nan}
    i = max(rows, key=lambda r: (f.known[r], r))
    same = [r for r in rows if f.known[r] == f.known[i]]
    i = same[-1] if len(same) > 1 else i
    return {
        "plane_prev_dep_delay": (f.actual[i] - f.scheduled[i]) / MIN,
        "plane_prev_minutes_ago": (t - f.actual[i]) / MIN,
    }


# Each kind of intraday feature: its vectorized computation, its definition, and how many
# tables (origins, carriers, planes) a random day has.
EACH_KIND = pytest.mark.parametrize(
    ("compute", "brute", "tables"),
    [
        (origin_features, _brute_origin, 3),
        (carrier_features, _brute_carrier, 5),
        (plane_features, _brute_plane, 40),
    ],
    ids=["origin", "carrier", "plane"],
)


@pytest.mark.parametrize("seed", [0, 1, 2])
@EACH_KIND
def test_vectorized_equals_the_definition(compute, brute, tables, seed, monkeypatch) -> None:
    rng = np.random.default_rng(seed)
    if seed == 2:  # the interval path of the origin features (a training set's size)
        monkeypatch.setattr(intraday, "MATRIX_CELLS", 0)
    flights = _random_day(rng, tables, 300)
    group, at = _queries(rng, tables, 200)
    got = compute(flights, group, at)
    for i in range(len(at)):
        expected = brute(flights, int(group[i]), int(at[i]))
        for name, value in expected.items():
            assert np.isclose(got[name][i], value, equal_nan=True), (name, i, got[name][i], value)


@EACH_KIND
def test_one_request_at_a_time_equals_the_definition(compute, brute, tables) -> None:
    """Serving's path: a single query (or a few of one table) at a time."""
    rng = np.random.default_rng(11)
    flights = _random_day(rng, tables, 300)
    group, at = _queries(rng, tables, 60)
    for i in range(len(at)):
        got = compute(flights, group[i : i + 1], at[i : i + 1])
        for name, value in brute(flights, int(group[i]), int(at[i])).items():
            assert np.isclose(got[name][0], value, equal_nan=True), (name, i, got[name][0], value)


@pytest.mark.parametrize("compute", [origin_features, carrier_features, plane_features])
def test_nothing_known_at_or_after_t_changes_a_value_at_t(compute) -> None:
    """Remove or alter every departure known at or after t: the features at t stay the same."""
    rng = np.random.default_rng(7)
    flights = _random_day(rng, 3, 400)
    for t in DAY0 + np.array([9 * 60, 12 * 60 + 30, 18 * 60]) * MIN:
        group, at = np.arange(3), np.full(3, t)
        before = compute(flights, group, at)
        later = flights.known >= t
        altered = DayFlights(
            flights.group,
            flights.scheduled,
            np.where(later, flights.actual + 45 * MIN, flights.actual),
            np.where(later & (rng.random(len(later)) < 0.5), NEVER, flights.known),
        )
        after = compute(altered, group, at)
        for name in before:
            assert np.allclose(before[name], after[name], equal_nan=True), name


@pytest.mark.parametrize(
    ("entity", "brute", "tables"),
    [("origin", _brute_origin, 3), ("carrier", _brute_carrier, 5), ("plane", _brute_plane, 40)],
)
def test_a_prepared_table_answers_single_queries_by_the_definition(entity, brute, tables) -> None:
    """Serving's fastest path: one table sorted once, then each query by binary search."""
    rng = np.random.default_rng(5)
    flights = _random_day(rng, tables, 300)
    available = np.where(flights.known == NEVER, NEVER, flights.known)
    prepared = {
        g: intraday.PreparedTable(
            flights.scheduled[flights.group == g],
            flights.actual[flights.group == g],
            available[flights.group == g],
        )
        for g in range(tables + 1)
    }
    group, at = _queries(rng, tables, 120)
    for i in range(len(at)):
        got = intraday.PREPARED[entity](prepared[int(group[i])], int(at[i]))
        for name, value in brute(flights, int(group[i]), int(at[i])).items():
            assert np.isclose(got[name], value, equal_nan=True), (name, i, got[name], value)


def test_the_training_set_gives_each_row_the_same_values_in_any_row_order(base_conn) -> None:
    """Rows in time order take the fast path (a radix sort per view turns their time order
    into the timeline's); shuffled rows are sorted the slow way: the values are the same."""
    from mlsys_assets.features import entity_rows_for_flights
    from mlsys_assets.features.catalog import INTRADAY_VIEWS
    from mlsys_assets.features.day_tables import offline_intraday
    from tests.features.conftest import END, START

    rows = entity_rows_for_flights(base_conn, START, END)
    rows.loc[rows.index[::97], "tailnum"] = None
    ordered = offline_intraday(base_conn, rows, INTRADAY_VIEWS)
    shuffle = np.random.default_rng(0).permutation(len(rows))
    shuffled = offline_intraday(base_conn, rows.iloc[shuffle], INTRADAY_VIEWS)
    assert np.isfinite(ordered["origin_scheduled_2h"]).all()
    assert np.isnan(ordered["plane_prev_dep_delay"][::97]).all()  # no aircraft: unknown
    for name, values in ordered.items():
        assert np.array_equal(values[shuffle], shuffled[name], equal_nan=True), name


def test_rows_of_days_apart_get_the_values_of_each_day_alone(base_conn) -> None:
    """Days with gaps between them read only their own flights (a list of days, not a range):
    each row gets what it gets when its day is asked for alone."""
    from mlsys_assets.features import entity_rows_for_flights
    from mlsys_assets.features.catalog import INTRADAY_VIEWS
    from mlsys_assets.features.day_tables import offline_intraday
    from tests.features.conftest import END, START

    first = entity_rows_for_flights(base_conn, START, START)
    last = entity_rows_for_flights(base_conn, END, END)
    assert (END - START).days > 1
    both = offline_intraday(base_conn, pd.concat([first, last]), INTRADAY_VIEWS)
    alone = [offline_intraday(base_conn, rows, INTRADAY_VIEWS) for rows in (first, last)]
    for name, values in both.items():
        expected = np.concatenate([alone[0][name], alone[1][name]])
        assert np.array_equal(values, expected, equal_nan=True), name
    assert np.isfinite(both["origin_scheduled_2h"]).all()


@pytest.mark.parametrize("n_keys", [10, 300, 1_000, 5_000])
def test_counting_keys_below_sorted_points_equals_a_binary_search(n_keys) -> None:
    """Whichever way ``_below`` counts (by the keys, by a merge, by the points), a point
    counts the keys strictly below it, ties included."""
    rng = np.random.default_rng(n_keys)
    keys = np.sort(rng.integers(0, 500, n_keys))
    points = np.sort(rng.integers(0, 500, 2_000))
    expected = np.searchsorted(keys, points, side="left")
    assert np.array_equal(intraday._below(keys, points), expected)
