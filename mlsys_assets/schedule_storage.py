"""Dagster's SQLite schedule storage (sensor ticks and cursors), with one engine per process
and its table checks remembered.

The daemon writes each sensor tick through the schedule storage: the tick, its result and the
sensor's cursor, about eight statements. Dagster's SQLite class builds a new SQLAlchemy engine
for every statement and, before several of them, asks SQLite for the list of its tables
(whether the ``instigators`` and ``secondary_indexes`` tables and a data migration exist).
With the loop's sensors ticking every second in ``mlsys demo``, that bookkeeping was a tenth of
the demo's CPU on two cores. Here the engine is built once (still without a connection pool:
every statement opens and closes its SQLite connection, as before, so several processes share
the file safely), and a table or migration once seen to exist is not looked up again (they are
only ever added, by ``dagster instance migrate``). ``mlsys_assets/instance.py`` names this class
in ``dagster.yaml`` for the embedded instance; with PostgreSQL, Dagster's own storage is used.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import (
    SqliteScheduleStorage,
)
from dagster._core.storage.sql import create_engine
from dagster._serdes import ConfigurableClassData
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool


class RememberingSqliteScheduleStorage(SqliteScheduleStorage):
    """``SqliteScheduleStorage`` with one engine and remembered table checks."""

    def __init__(self, conn_string: str, inst_data: ConfigurableClassData | None = None):
        super().__init__(conn_string, inst_data)
        self._engine = create_engine(conn_string, poolclass=NullPool)
        self._present: set[str] = set()

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Any
    ) -> RememberingSqliteScheduleStorage:
        return cls.from_local(inst_data=inst_data, **config_value)  # Dagster's names its class

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with self._engine.connect() as conn, conn.begin():
            yield conn

    def _remembered(self, key: str, check: Callable[[], bool]) -> bool:
        if key in self._present:
            return True
        found = bool(check())
        if found:
            self._present.add(key)
        return found

    def has_instigators_table(self) -> bool:
        return self._remembered("table:instigators", super().has_instigators_table)

    def has_secondary_index_table(self) -> bool:
        return self._remembered("table:secondary_indexes", super().has_secondary_index_table)

    def has_built_index(self, migration_name: str) -> bool:
        check = functools.partial(super().has_built_index, migration_name)
        return self._remembered(f"migration:{migration_name}", check)
