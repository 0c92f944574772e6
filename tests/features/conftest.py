"""Fixtures of the feature-store tests: a small warehouse (three weeks of January) built once."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from mlsys_assets.features.catalog import FEATURE_VIEWS
from mlsys_assets.features.offline import compute_all
from tests.reference_data import load_reference

START = dt.date(2013, 1, 1)
END = dt.date(2013, 1, 21)


@pytest.fixture(scope="session")
def base_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Raw tables for START..END from the reference loader, features computed; never modified."""
    path = tmp_path_factory.mktemp("features") / "base.duckdb"
    conn = duckdb.connect(str(path))
    load_reference(conn, START, END)
    compute_all(conn, FEATURE_VIEWS)
    conn.close()
    return path


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
