"""The operational source database: planes, airlines and airports, changing over time.

One SQLAlchemy Core implementation serves both backends: a SQLite file by default and PostgreSQL
in production (``MLSYS_BACKENDS__SOURCE_DB_URL``), so nothing here may use dialect-specific SQL. Every row
carries ``created_at`` and ``updated_at`` in simulated time (naive UTC): ingestion snapshots the
tables and turns ``updated_at`` into valid-from/valid-to history.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import dagster as dg
import pandas as pd
import sqlalchemy as sa
from pydantic import Field

METADATA = sa.MetaData()


def _stamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    ]


TABLES: dict[str, sa.Table] = {
    "planes": sa.Table(
        "planes",
        METADATA,
        sa.Column("tailnum", sa.String(16), primary_key=True),
        sa.Column("year", sa.Integer),
        sa.Column("type", sa.String(64)),
        sa.Column("manufacturer", sa.String(64)),
        sa.Column("model", sa.String(64)),
        sa.Column("engines", sa.Integer),
        sa.Column("seats", sa.Integer),
        sa.Column("speed", sa.Float),
        sa.Column("engine", sa.String(64)),
        *_stamps(),
    ),
    "airlines": sa.Table(
        "airlines",
        METADATA,
        sa.Column("carrier", sa.String(8), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        *_stamps(),
    ),
    "airports": sa.Table(
        "airports",
        METADATA,
        sa.Column("faa", sa.String(8), primary_key=True),
        sa.Column("name", sa.String(128)),
        sa.Column("lat", sa.Float),
        sa.Column("lon", sa.Float),
        sa.Column("alt", sa.Float),
        sa.Column("tz", sa.Float),
        sa.Column("dst", sa.String(4)),
        sa.Column("tzone", sa.String(64)),
        *_stamps(),
    ),
}
KEYS: dict[str, str] = {"planes": "tailnum", "airlines": "carrier", "airports": "faa"}


@lru_cache(maxsize=8)
def _engine(url: str) -> sa.Engine:
    """One engine (and connection pool) per URL and process."""
    return sa.create_engine(url, future=True)


class SourceDatabase(dg.ConfigurableResource):
    """The upstream SQL database the producers write and ingestion snapshots."""

    url: str = Field(description="SQLAlchemy URL: sqlite:///... or postgresql+psycopg://...")

    def engine(self) -> sa.Engine:
        if self.url.startswith("sqlite:///"):
            from pathlib import Path

            Path(self.url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return _engine(self.url)

    def create_tables(self) -> None:
        """Create the source tables if they are missing (idempotent)."""
        METADATA.create_all(self.engine())

    def exists(self) -> bool:
        return sa.inspect(self.engine()).has_table("planes")

    def read(self, table: str) -> pd.DataFrame:
        """The whole table as of now, ordered by its key (a snapshot)."""
        tbl = TABLES[table]
        query = sa.select(tbl).order_by(tbl.c[KEYS[table]])
        with self.engine().connect() as conn:
            return pd.read_sql(query, conn)

    def present_keys(self, table: str) -> set[str]:
        tbl = TABLES[table]
        with self.engine().connect() as conn:
            return set(conn.execute(sa.select(tbl.c[KEYS[table]])).scalars())

    def insert(self, table: str, rows: pd.DataFrame) -> int:
        """Insert rows whose key is not there yet; return how many were inserted."""
        if rows.empty:
            return 0
        present = self.present_keys(table)
        new = rows[~rows[KEYS[table]].isin(present)]
        if new.empty:
            return 0
        records = [_plain(record) for record in new.to_dict("records")]
        with self.engine().begin() as conn:
            conn.execute(sa.insert(TABLES[table]), records)
        return len(records)

    def update(
        self, table: str, key: str, values: Mapping[str, Any], updated_at: dt.datetime
    ) -> None:
        """Change one row, stamping it with the (simulated) time of the change."""
        tbl = TABLES[table]
        with self.engine().begin() as conn:
            conn.execute(
                sa.update(tbl)
                .where(tbl.c[KEYS[table]] == key)
                .values(**_plain(dict(values)), updated_at=updated_at)
            )


def _plain(record: dict[str, Any]) -> dict[str, Any]:
    """pandas/numpy scalars to plain Python values; NaN/NaT to None (portable across drivers)."""
    out: dict[str, Any] = {}
    for name, value in record.items():
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            out[name] = None
        elif isinstance(value, pd.Timestamp):
            out[name] = value.to_pydatetime()
        elif hasattr(value, "item"):
            out[name] = value.item()
        else:
            out[name] = value
    return out
