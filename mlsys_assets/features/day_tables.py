"""Day tables of the on-demand (intraday) views: built from the raw events offline, kept by the
stream processor online, and handed to the same functions (``intraday.COMPUTE``) either way.

A day table is one entity's flights of one local day (an origin's, a carrier's, an aircraft's):
each flight's scheduled departure, and its actual departure with the time it became available
once the departure event arrived. Offline, the schedule is the day's flights (``raw.flights``)
and the departures come from ``raw.departures``, each counted only from its ``available_at``.
Online, the processor builds the same table from the ``schedule`` and ``departures`` topics and
stores it as one JSON payload per ``<view>:<entity value>|<day>`` key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mlsys_assets.features.intraday import (
    COMPUTE,
    MAX_TABLES,
    NEVER,
    ON_TIMELINE,
    PREPARED,
    US_PER_MINUTE,
    DayFlights,
    PreparedTable,
    Timeline,
    offsets,
)
from mlsys_assets.features.request import naive_utc_series
from mlsys_assets.features.spec import OnDemandView

_NAT = np.iinfo(np.int64).min  # datetime64's NaT as int64


def state_key(view: OnDemandView, value: Any, day: dt.date) -> str:
    """``<view>:<entity value>|<local day>`` (a datetime, e.g. a pandas Timestamp, is its day)."""
    if isinstance(day, dt.datetime):
        day = day.date()
    return state_key_text(view, value, day.isoformat())


def state_key_text(view: OnDemandView, value: Any, day_iso: str) -> str:
    """``state_key`` for a day already written as ISO text (the stream processor's hot path
    formats each day once per batch, not once per row)."""
    return f"{view.name}:{value}|{day_iso}"


# ------------------------------------------------------------------------------ offline
def _has_departures(conn: duckdb.DuckDBPyConnection) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'raw' AND table_name = 'departures'"
    ).fetchone()
    return bool(row and row[0])


def _departures_join(
    conn: duckdb.DuckDBPyConnection, as_of: dt.datetime | None
) -> tuple[str, str, str, dict[str, dt.datetime]]:
    """The join of ``raw.flights f`` to its departures known by ``as_of`` (all: None), the SQL
    of the actual departure and of its availability (int64 us), and the query's parameters.
    Before any departure is ingested there is no table: every flight has not left yet."""
    if not _has_departures(conn):
        return "", "NULL", "NULL", {}
    cut = "AND d.available_at <= $as_of" if as_of is not None else ""
    join = f"""LEFT JOIN raw.departures d ON d.flight_date = f.flight_date
               AND d.carrier = f.carrier AND d.flight = f.flight AND d.origin = f.origin
               AND NOT d.cancelled {cut}"""
    params = {"as_of": as_of} if as_of is not None else {}
    return join, "epoch_us(d.actual_departure)", "epoch_us(d.available_at)", params


def offline_flights(
    conn: duckdb.DuckDBPyConnection, days: Sequence[dt.date], as_of: dt.datetime | None = None
) -> pd.DataFrame:
    """Every scheduled flight of ``days`` with its departure as known (``as_of``: only
    departures available by then): flight_date, carrier, origin, tailnum, s, a, v (int64 us)."""
    conn.register("_intraday_days", pd.DataFrame({"day": pd.to_datetime(pd.Series(days))}))
    try:
        join, actual, available, params = _departures_join(conn, as_of)
        frame = conn.execute(
            f"""SELECT f.flight_date, f.carrier, f.flight, f.origin, f.tailnum,
                       epoch_us(f.scheduled_departure) AS s,
                       coalesce({actual}, {NEVER}) AS a, coalesce({available}, {NEVER}) AS v
                FROM raw.flights f {join}
                WHERE f.flight_date IN (SELECT CAST(day AS DATE) FROM _intraday_days)""",
            params,
        ).fetch_df()
    finally:
        conn.unregister("_intraday_days")
    return frame


_US_PER_DAY = 86_400 * 1_000_000


def _flight_times(
    conn: duckdb.DuckDBPyConnection,
    days: np.ndarray,
    fields: Sequence[str],
    as_of: dt.datetime | None,
) -> pa.Table:
    """``offline_flights`` as the training set needs it: only the times (int64 us), the day
    (days since 1970) and the entity ``fields``, no flight ids and no pandas conversion.

    ``days`` (sorted, distinct) as a date range, both sides of the join cut to it; only days
    with gaps between them are also looked up in a list (a semi-join per flight)."""
    first, last = (dt.date(1970, 1, 1) + dt.timedelta(days=int(d)) for d in (days[0], days[-1]))
    join, actual, available, params = _departures_join(conn, as_of)
    if join:
        join += " AND d.flight_date BETWEEN $first AND $last"
    where = "f.flight_date BETWEEN $first AND $last"
    contiguous = len(days) == days[-1] - days[0] + 1
    if not contiguous:
        where += " AND f.flight_date IN (SELECT day FROM _intraday_days)"
        table = pa.table({"day": pa.array(days.astype(np.int32), pa.date32())})
        conn.register("_intraday_days", table)
    columns = "".join(f", f.{field}" for field in fields)
    try:
        return conn.execute(
            f"""SELECT epoch_us(f.scheduled_departure) AS s,
                       coalesce({actual}, {NEVER}) AS a, coalesce({available}, {NEVER}) AS v,
                       CAST(f.flight_date - DATE '1970-01-01' AS BIGINT) AS day {columns}
                FROM raw.flights f {join}
                WHERE {where}""",
            {**params, "first": first, "last": last},
        ).to_arrow_table()
    finally:
        if not contiguous:
            conn.unregister("_intraday_days")


def _entity_codes(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Codes of an entity column (-1 where missing) and its distinct values as strings."""
    codes, uniques = pd.factorize(values)
    uniques = pd.Index(uniques)
    if uniques.dtype != object:
        uniques = pd.Index(uniques.astype(str), dtype=object)
    return codes.astype(np.int64, copy=False), uniques


def _codes_of(column: pa.ChunkedArray, uniques: pd.Index) -> np.ndarray:
    """Each flight's value as a code into the entity rows' ``uniques`` (-1: none of them), by
    one hash lookup per flight (no dictionary of the flights' values to map again)."""
    values = pa.array(uniques.to_numpy(), column.type)
    codes = pc.fill_null(pc.index_in(column, value_set=values), -1)
    return codes.to_numpy().astype(np.int64)


def _unknown(
    views: Sequence[OnDemandView], n: int, out: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Every feature of ``views`` unknown (NaN) for ``n`` rows, in ``out``'s arrays if given."""
    features = {}
    for view in views:
        for feature in view.features:
            values = out.get(feature.name)
            features[feature.name] = values = np.empty(n) if values is None else values
            values.fill(np.nan)
    return features


def _radix_order(codes: np.ndarray, order: np.ndarray | None = None) -> np.ndarray:
    """``order`` (default: the given order) stably re-sorted by ``codes[order]``: with small
    codes a radix sort (linear), which turns a time order into a (code, time) order."""
    small = np.int16 if len(codes) == 0 or codes.max() < np.iinfo(np.int16).max else np.int32
    codes = codes.astype(small)
    if order is None:
        return np.argsort(codes, kind="stable")
    return order[np.argsort(codes[order], kind="stable")]


def offline_intraday(
    conn: duckdb.DuckDBPyConnection,
    entity_rows: pd.DataFrame,
    views: Sequence[OnDemandView],
    *,
    as_of: dt.datetime | None = None,
    keys: Mapping[str, tuple[np.ndarray, pd.Index]] | None = None,
    out: Mapping[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Every on-demand feature of ``entity_rows`` (flight_date, carrier, origin, tailnum,
    event_timestamp = t), point-in-time: only departures available strictly before t count.

    ``keys``: entity columns already factorized by the caller (codes, distinct values as
    strings), e.g. by the training set's join, so they are not factorized twice. ``out``: float
    arrays (a row each) to write features into, e.g. rows of the training set's output block,
    instead of new ones.

    All day tables of a view go on one ``Timeline`` (the table of a flight or row is its
    entity value and local day; its base the day's UTC midnight, minus a day of slack), and its
    features are computed for all rows at once. The flights are read in no particular order
    and sorted by scheduled time once; the rows usually come in time order (checked). A radix
    sort by entity code then gives each view its (table, time) order in linear time.
    """
    n = len(entity_rows)
    out = out or {}
    if not views or entity_rows.empty:
        return _unknown(views, n, out)
    keys = dict(keys or {})
    dates = entity_rows["flight_date"]
    if not pd.api.types.is_datetime64_dtype(dates.dtype):  # (to_datetime always scans)
        dates = pd.to_datetime(dates)
    day = dates.to_numpy().astype("datetime64[D]").view(np.int64)
    at = naive_utc_series(entity_rows["event_timestamp"]).to_numpy(dtype="datetime64[us]")
    at = at.view(np.int64)
    usable = (day != _NAT) & (at != _NAT)  # no day or no moment: nothing known
    if not usable.any():
        return _unknown(views, n, out)
    first = int(day[usable].min())
    day_index = np.where(usable, day - first, 0)
    del day
    n_days = int(day_index.max()) + 1
    days = np.flatnonzero(np.bincount(day_index[usable], minlength=n_days)) + first
    fields = list(dict.fromkeys(COMPUTE[v.compute][0] for v in views))
    flights = _flight_times(conn, days, fields, as_of)
    by_s, flight_day, flight = _flights_by_scheduled(flights, first)
    at_base = day_index + (first - 1)
    at_base *= _US_PER_DAY
    at_offset = offsets(np.where(usable, at, at_base), at_base)
    del at_base
    at_minutes = at_offset / US_PER_MINUTE
    # the rows by time: usually their own order already (then no permutation to apply)
    by_at = None if (at[1:] >= at[:-1]).all() else np.argsort(at, kind="stable")
    del at
    features: dict[str, np.ndarray] = {}
    for view in views:
        field, _ = COMPUTE[view.compute]
        codes, uniques = keys.get(field) or _entity_codes(entity_rows[field])
        # rows without a value or a moment go to the table of no value (it has no flights);
        # flights of a value no row has to a table past it (no row asks about them)
        no_value = len(uniques)
        row_codes = np.where(usable & (codes >= 0), codes, no_value)
        flight_codes = _codes_of(flights[field], uniques)[by_s]
        flight_codes[flight_codes < 0] = no_value + 1
        query_table = row_codes * n_days
        query_table += day_index
        flight_table = flight_codes * n_days
        flight_table += flight_day
        tables = (no_value + 2) * n_days
        if tables > MAX_TABLES:  # very many (value, day) pairs: number the ones present
            both, index = np.unique(
                np.concatenate([flight_table, query_table]), return_inverse=True
            )
            flight_table, query_table = index[: len(flight_table)], index[len(flight_table) :]
            tables = len(both)
        timeline = Timeline(
            flight_table,
            flight,
            query_table,
            at_offset,
            at_minutes,
            tables,
            flight_order=_radix_order(flight_codes),
            query_order=_radix_order(row_codes, by_at),
        )
        del row_codes, flight_codes, query_table, flight_table
        # per distinct query; no day table: unknown (as online)
        absent = ~timeline.has_flights
        for name, column in ON_TIMELINE[view.compute](timeline).items():
            column[absent | np.isnan(column)] = np.nan  # one NaN (0/0 gives a negative one)
            features[name] = timeline.answer(column, out.get(name))
        del timeline, absent  # before the next view's: every per-row array is fresh memory
    return features


def _flights_by_scheduled(
    flights: pa.Table, first: int
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """The flights by scheduled time (nearly so already: cheap): that order, each flight's day
    (from ``first``), and the per-flight arrays every view's ``Timeline`` shares."""
    s = flights["s"].to_numpy()
    by_s = np.argsort(s, kind="stable")
    s = s[by_s]
    flight_day = flights["day"].to_numpy()[by_s]
    flight_day -= first
    base = flight_day + (first - 1)
    base *= _US_PER_DAY  # a day before the day's UTC midnight
    a = flights["a"].to_numpy()[by_s]
    left = a != NEVER
    delay = a - s
    delay = delay / US_PER_MINUTE
    delay[~left] = 0.0
    known = flights["v"].to_numpy()[by_s]
    np.maximum(known, a, out=known)
    known[~left] = NEVER
    scheduled = offsets(s, base)
    del s
    flight = {
        "scheduled": scheduled,
        "known": offsets(known, base),
        "actual": offsets(a, base),
        "delay": delay,
        "minutes": scheduled / US_PER_MINUTE,
    }
    return by_s, flight_day, flight


# ------------------------------------------------------------------------------ online
def encode_table(rows: Mapping[str, Sequence[Any]]) -> str:
    """A day table's payload: ``{"f": flight ids, "s": [...], "a": [...], "v": [...]}``."""
    return orjson.dumps(rows).decode()


def decode_table(payload: str) -> dict[str, list[Any]]:
    return orjson.loads(payload)


class _TableCache:
    """Decoded day tables: a busy origin's table is parsed (and sorted for single queries)
    once per change, not once per request.

    Kept by store key with the payload it was decoded from: a lookup compares the payload it
    read with that one (a memory compare, and only when the lengths agree) instead of hashing
    it (an origin's table is ~20 KB of text: hashing it cost more than the rest of a lookup).
    Without a key, by payload text.
    """

    def __init__(self, size: int = 65_536) -> None:
        self._items: dict[str, tuple[str, PreparedTable]] = {}
        self._size = size

    def table(self, payload: str, key: str | None = None) -> PreparedTable:
        slot = payload if key is None else key
        found = self._items.get(slot)
        if found is not None and (found[0] is payload or found[0] == payload):
            return found[1]
        if len(self._items) >= self._size:
            self._items.clear()
        table = orjson.loads(payload)
        prepared = PreparedTable(table["s"], table["a"], table["v"])
        self._items[slot] = (payload, prepared)
        return prepared


_TABLES = _TableCache()
SINGLE_QUERIES = 8  # up to this many queries, one at a time beats the array functions


def online_intraday(
    payloads: Sequence[str | None],
    groups: Sequence[int],
    at: Sequence[int],
    view: OnDemandView,
    keys: Sequence[str] | None = None,
) -> dict[str, list[float | None]]:
    """The view's features per query, as served (None: unknown): ``payloads[g]`` is day table
    g (None: no table), stored under ``keys[g]`` when given, ``groups[i]`` the table of query i
    (-1: none), ``at[i]`` its moment."""
    keys = keys if keys is not None else [None] * len(payloads)
    if len(at) <= SINGLE_QUERIES:
        return _one_at_a_time(payloads, keys, groups, at, view)
    _, compute = COMPUTE[view.compute]
    parts = [
        (g, _TABLES.table(p, key))
        for g, (p, key) in enumerate(zip(payloads, keys, strict=True))
        if p is not None
    ]
    if parts:
        group = np.concatenate(
            [np.full(len(table.scheduled), g, dtype=np.int64) for g, table in parts]
        )
        s, a, v = (
            np.concatenate([getattr(table, name) for _, table in parts])
            for name in ("scheduled", "actual", "available")
        )
    else:
        group = s = a = v = np.empty(0, dtype=np.int64)
    flights = DayFlights.build(group, s, a, v)
    groups = np.asarray(groups, dtype=np.int64)
    out = compute(flights, groups, np.asarray(at, dtype=np.int64))
    # No day table at all (the schedule never reached the processor): unknown, not "nothing
    # happened". Offline every flight has its table (it is in it), so this only marks gaps.
    absent = groups < 0
    if len(payloads):
        absent |= np.array([p is None for p in payloads] + [True])[np.where(absent, -1, groups)]
    served = {}
    for name, values in out.items():
        values[absent] = np.nan
        served[name] = [None if v != v else v for v in values.tolist()]
    return served


def _one_at_a_time(
    payloads: Sequence[str | None],
    keys: Sequence[str | None],
    groups: Sequence[int],
    at: Sequence[int],
    view: OnDemandView,
) -> dict[str, list[float | None]]:
    """``online_intraday`` for a few queries: each on its prepared table (no table: None)."""
    single = PREPARED[view.compute]
    if len(groups) == 1:  # serving's single request: no lists of answers to transpose
        g = groups[0]
        if g < 0 or payloads[g] is None:
            return {f.name: [None] for f in view.features}
        answer = single(_TABLES.table(payloads[g], keys[g]), int(at[0]))
        return {name: [None if v != v else float(v)] for name, v in answer.items()}
    unknown = dict.fromkeys(f.name for f in view.features)
    answers = [
        unknown
        if g < 0 or payloads[g] is None
        else single(_TABLES.table(payloads[g], keys[g]), int(t))
        for g, t in zip(groups, at, strict=True)
    ]
    return {
        name: [None if (v := a[name]) is None or v != v else float(v) for a in answers]
        for name in unknown
    }


def materialize_day_tables(
    conn: duckdb.DuckDBPyConnection,
    store: Any,
    views: Sequence[OnDemandView],
    days: Sequence[dt.date],
) -> int:
    """Write the day tables of ``days`` to the online store from the raw tables (a backfill:
    what the stream processor would hold once every event of those days arrived). The lookup
    still counts a departure only from when it was known, so a complete table is safe to serve
    at any moment. Returns the number of tables written."""
    from mlsys_assets.resources.online_store import OnlineRow

    flights = offline_flights(conn, days)
    if flights.empty:
        return 0
    flights["flight_id"] = (
        flights["carrier"] + flights["flight"].astype(str) + "-" + flights["origin"]
    )
    rows = []
    for view in views:
        field, _ = COMPUTE[view.compute]
        for (value, day), part in flights.groupby([field, "flight_date"], sort=True):
            part = part.sort_values("s", kind="stable")
            known = part["v"].where(part["v"] != NEVER)
            event_us = int(known.max()) if known.notna().any() else int(part["s"].min())
            payload = encode_table(
                {
                    "f": part["flight_id"].tolist(),
                    "s": part["s"].astype("int64").tolist(),
                    "a": part["a"].astype("int64").tolist(),
                    "v": part["v"].astype("int64").tolist(),
                }
            )
            rows.append(OnlineRow(state_key(view, value, day), event_us, None, payload))
    store.write_batch(rows)
    return len(rows)
