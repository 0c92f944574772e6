"""The stream side of the feature store: online rows from raw rows that just arrived.

A view fed by a stream (weather observations, the published schedule) is computed here by its
own offline SELECT (``offline.view_select_sql``), run on an in-memory DuckDB whose ``raw`` tables
hold only the newly arrived rows (plus whatever context the view needs, e.g. the previous day's
schedule for "departures in the hour before"). There is no second implementation of a feature:
the processor and the daily run produce the same value for the same raw rows, and the online
store keeps the newer of the two (``OnlineStore.write_batch`` never lets an older event win).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import duckdb
import pandas as pd

from mlsys_assets.clock import utc_now
from mlsys_assets.features.offline import view_select_sql
from mlsys_assets.features.online import online_row, online_rows_sql
from mlsys_assets.features.spec import FeatureView
from mlsys_assets.resources.online_store import OnlineRow


class StreamViewComputer:
    """One in-memory DuckDB per process: the views' SQL compiled once, raw tables replaced per
    batch (a new connection per batch would cost more than the query)."""

    def __init__(self) -> None:
        self._conn = duckdb.connect()
        self._conn.execute("CREATE SCHEMA raw")
        self._sql: dict[str, str] = {}

    def rows(
        self,
        view: FeatureView,
        raw: Mapping[str, pd.DataFrame],
        start: dt.date,
        end: dt.date,
    ) -> list[OnlineRow]:
        """The newest online row per entity of ``view`` for local days ``start..end``, computed
        from the raw tables given (name in the ``raw`` schema -> rows)."""
        conn = self._conn
        for name, frame in raw.items():
            conn.register("_arrived", frame)
            conn.execute(f"CREATE OR REPLACE TABLE raw.{name} AS SELECT * FROM _arrived")
            conn.unregister("_arrived")
        sql = self._sql.get(view.name)
        if sql is None:
            sql = self._sql[view.name] = online_rows_sql(view, view_select_sql(view))
        params: dict[str, object] = {"computed_at": utc_now()}
        if view.partitioned:
            params |= {"start": start, "end": end}
        return [online_row(view, r) for r in conn.execute(sql, params).fetchall()]

    def close(self) -> None:
        self._conn.close()
