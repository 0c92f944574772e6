"""Fixtures of the feature-store tests: a small warehouse (three weeks of January) built once."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from tests.reference_data import feature_warehouse

START = dt.date(2013, 1, 1)
END = dt.date(2013, 1, 21)


@pytest.fixture(scope="session")
def base_warehouse() -> Path:
    """Raw tables for START..END from the reference loader, features computed; never modified
    (built once per change of its inputs, ``tests/reference_data.feature_warehouse``)."""
    return feature_warehouse(START, END)


@pytest.fixture
def warehouse_copy(base_warehouse: Path, tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A private, writable copy of the base warehouse."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(base_warehouse, path)
    conn = duckdb.connect(str(path))
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def base_conn(base_warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """Read-only connection to the base warehouse (shared by tests that only read)."""
    conn = duckdb.connect(str(base_warehouse), read_only=True)
    yield conn
    conn.close()
