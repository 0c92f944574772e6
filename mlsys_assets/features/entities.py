"""Entity rows of the flights task: what to predict, when, and the labels (never features)."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

PREDICTION_LEAD = dt.timedelta(hours=1)
"""Predictions are made this long before the scheduled departure (the rows' event_timestamp)."""

ENTITY_COLUMNS: tuple[str, ...] = (
    "flight_date",
    "carrier",
    "flight",
    "origin",
    "dest",
    "tailnum",
    "scheduled_departure",
    "distance",
    "event_timestamp",
    "arr_delay",
    "cancelled",
)


def entity_rows_for_flights(
    conn: duckdb.DuckDBPyConnection,
    start: dt.date,
    end: dt.date,
    *,
    lead: dt.timedelta = PREDICTION_LEAD,
) -> pd.DataFrame:
    """One row per raw.flights row with local ``flight_date`` in ``[start, end]``.

    ``event_timestamp`` (naive UTC) is the prediction time, ``scheduled_departure - lead``;
    ``arr_delay`` and ``cancelled`` are the outcome (labels only). Ordered by departure.
    """
    frame = conn.execute(
        """
        SELECT flight_date, carrier, flight, origin, dest, tailnum, scheduled_departure, distance,
               arr_delay, cancelled
        FROM raw.flights
        WHERE flight_date BETWEEN ? AND ?
        ORDER BY scheduled_departure, carrier, flight, origin
        """,
        [start, end],
    ).df()
    frame["event_timestamp"] = frame["scheduled_departure"] - lead
    return frame[list(ENTITY_COLUMNS)]
