"""Online/offline parity: the online value must equal the offline point-in-time value at ``now``."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd

from mlsys_assets.features.catalog import FLIGHTS_V1
from mlsys_assets.features.online import lookup_online_features
from mlsys_assets.features.request import REQUEST_FIELDS
from mlsys_assets.features.spec import FeatureService
from mlsys_assets.features.training_set import build_training_set
from mlsys_assets.resources.online_store import OnlineStore


@dataclass(frozen=True)
class Mismatch:
    row: int
    feature: str
    online: Any
    offline: Any


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def parity_mismatches(
    conn: duckdb.DuckDBPyConnection,
    store: OnlineStore,
    requests: pd.DataFrame,
    now: dt.datetime,
    *,
    service: FeatureService = FLIGHTS_V1,
) -> list[Mismatch]:
    """Compare, feature by feature, ``lookup_online_features(now)`` with the training-set join at
    ``event_timestamp = now`` for each request row. Both missing counts as equal."""
    rows = requests.reset_index(drop=True).copy()
    rows["event_timestamp"] = pd.Timestamp(now)
    offline = build_training_set(conn, rows, service=service)
    out: list[Mismatch] = []
    for i, request in enumerate(rows[list(REQUEST_FIELDS)].to_dict("records")):
        if _missing(request["tailnum"]):
            request["tailnum"] = None
        online = lookup_online_features(store, request, now, service=service).values
        for name in service.feature_names:
            a, b = online[name], offline.at[i, name]
            if _missing(a) and _missing(b):
                continue
            if _missing(a) or _missing(b) or a != b:
                out.append(Mismatch(i, name, a, b))
    return out


def parity_sample(conn: duckdb.DuckDBPyConnection, size: int, seed: int) -> pd.DataFrame:
    """Requests for a sample of the newest day's flights (their entities are all online)."""
    return conn.execute(
        f"""
        SELECT {", ".join(REQUEST_FIELDS)} FROM (
            SELECT * FROM raw.flights
            WHERE flight_date = (SELECT max(flight_date) FROM raw.flights)
            ORDER BY hash(carrier || flight || origin || {int(seed)})
            LIMIT {int(size)}
        ) ORDER BY scheduled_departure, carrier, flight
        """
    ).df()


def parity_moment(conn: duckdb.DuckDBPyConnection, tables: list[str]) -> dt.datetime | None:
    """Just after the newest offline event time: where the newest values are the PIT ones."""
    union = " UNION ALL ".join(f"SELECT max(event_timestamp) AS m FROM {t}" for t in tables)
    row = conn.execute(f"SELECT max(m) FROM ({union})").fetchone()
    if row is None or row[0] is None:
        return None
    return row[0] + dt.timedelta(seconds=1)
