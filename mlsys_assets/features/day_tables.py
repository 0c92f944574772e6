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

from mlsys_assets.features.intraday import COMPUTE, NEVER, PREPARED, DayFlights, PreparedTable
from mlsys_assets.features.spec import OnDemandView
from mlsys_assets.nycflights import FIRST_DAY

_FIRST = FIRST_DAY
_DAYS = 1 << 9  # room for day codes in a group id (a year and more)


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


def offline_flights(
    conn: duckdb.DuckDBPyConnection, days: Sequence[dt.date], as_of: dt.datetime | None = None
) -> pd.DataFrame:
    """Every scheduled flight of ``days`` with its departure as known (``as_of``: only
    departures available by then): flight_date, carrier, origin, tailnum, s, a, v (int64 us)."""
    conn.register("_intraday_days", pd.DataFrame({"day": pd.to_datetime(pd.Series(days))}))
    try:
        if _has_departures(conn):
            cut = "AND d.available_at <= $as_of" if as_of is not None else ""
            join = f"""LEFT JOIN raw.departures d ON d.flight_date = f.flight_date
                       AND d.carrier = f.carrier AND d.flight = f.flight AND d.origin = f.origin
                       AND NOT d.cancelled {cut}"""
            actual, available = "epoch_us(d.actual_departure)", "epoch_us(d.available_at)"
        else:
            join, actual, available = "", "NULL", "NULL"
        params = {"as_of": as_of} if as_of is not None and join else {}
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


def _day_codes(days: pd.Series) -> np.ndarray:
    return (pd.to_datetime(days).to_numpy().astype("datetime64[D]") - np.datetime64(_FIRST)).astype(
        np.int64
    )


def _groups(
    flight_values: pd.Series,
    flight_days: np.ndarray,
    query_values: pd.Series,
    query_days: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """One int64 group id per (entity value, day), shared by flights and queries; -1 where the
    value is missing (no table)."""
    codes, _ = pd.factorize(pd.concat([flight_values, query_values], ignore_index=True))
    codes = codes.astype(np.int64)
    days = np.concatenate([flight_days, query_days]) % _DAYS
    groups = np.where(codes >= 0, codes * _DAYS + days, -1)
    return groups[: len(flight_values)], groups[len(flight_values) :]


def offline_intraday(
    conn: duckdb.DuckDBPyConnection,
    entity_rows: pd.DataFrame,
    views: Sequence[OnDemandView],
    *,
    as_of: dt.datetime | None = None,
) -> dict[str, np.ndarray]:
    """Every on-demand feature of ``entity_rows`` (flight_date, carrier, origin, tailnum,
    event_timestamp = t), point-in-time: only departures available strictly before t count."""
    if not views or entity_rows.empty:
        return {f.name: np.full(len(entity_rows), np.nan) for v in views for f in v.features}
    flights = offline_flights(conn, list(pd.unique(entity_rows["flight_date"])), as_of)
    at = pd.to_datetime(entity_rows["event_timestamp"]).to_numpy().astype("datetime64[us]")
    at = at.astype(np.int64)
    query_days = _day_codes(entity_rows["flight_date"])
    flight_days = _day_codes(flights["flight_date"])
    out: dict[str, np.ndarray] = {}
    for view in views:
        field, compute = COMPUTE[view.compute]
        keep = flights[field].notna().to_numpy()
        flight_groups, query_groups = _groups(
            flights[field][keep].astype(str).reset_index(drop=True),
            flight_days[keep],
            entity_rows[field]
            .astype("object")
            .where(entity_rows[field].notna())
            .reset_index(drop=True),
            query_days,
        )
        table = DayFlights.build(
            flight_groups,
            flights["s"].to_numpy()[keep],
            flights["a"].to_numpy()[keep],
            flights["v"].to_numpy()[keep],
        )
        values = compute(table, query_groups, at)
        # no day table: unknown (as online)
        absent = ~np.isin(query_groups, flight_groups, kind="table")
        for column in values.values():
            column[absent | np.isnan(column)] = np.nan  # one NaN (0/0 gives a negative one)
        out |= values
    return out


# ------------------------------------------------------------------------------ online
def encode_table(rows: Mapping[str, Sequence[Any]]) -> str:
    """A day table's payload: ``{"f": flight ids, "s": [...], "a": [...], "v": [...]}``."""
    return orjson.dumps(rows).decode()


def decode_table(payload: str) -> dict[str, list[Any]]:
    return orjson.loads(payload)


class _TableCache:
    """Decoded day tables by payload text: a busy origin's table is parsed (and sorted for
    single queries) once per change, not once per request."""

    def __init__(self, size: int = 4_096) -> None:
        self._items: dict[str, PreparedTable] = {}
        self._size = size

    def table(self, payload: str) -> PreparedTable:
        found = self._items.get(payload)
        if found is None:
            if len(self._items) >= self._size:
                self._items.clear()
            table = orjson.loads(payload)
            found = self._items[payload] = PreparedTable(table["s"], table["a"], table["v"])
        return found


_TABLES = _TableCache()
SINGLE_QUERIES = 8  # up to this many queries, one at a time beats the array functions


def online_intraday(
    payloads: Sequence[str | None], groups: Sequence[int], at: Sequence[int], view: OnDemandView
) -> dict[str, list[float | None]]:
    """The view's features per query, as served (None: unknown): ``payloads[g]`` is day table
    g (None: no table), ``groups[i]`` the table of query i (-1: none), ``at[i]`` its moment."""
    if len(at) <= SINGLE_QUERIES:
        return _one_at_a_time(payloads, groups, at, view)
    _, compute = COMPUTE[view.compute]
    parts = [(g, _TABLES.table(p)) for g, p in enumerate(payloads) if p is not None]
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
    payloads: Sequence[str | None], groups: Sequence[int], at: Sequence[int], view: OnDemandView
) -> dict[str, list[float | None]]:
    """``online_intraday`` for a few queries: each on its prepared table (no table: None)."""
    single = PREPARED[view.compute]
    unknown = dict.fromkeys(f.name for f in view.features)
    answers = [
        unknown if g < 0 or payloads[g] is None else single(_TABLES.table(payloads[g]), int(t))
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
