"""Readers never fail writers: a writer waits out a reader's DuckDB lock within its bound, and
past the bound fails with one clear line naming the holder, never DuckDB's lock traceback."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from mlsys_assets.resources.warehouse import Warehouse, WarehouseLocked

HOLD = """
import sys, time, duckdb
conn = duckdb.connect(sys.argv[1], read_only=True)
conn.execute("SELECT count(*) FROM t").fetchall()
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
conn.close()
"""


def _reader_holding(path: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process holding a read-only connection for ``seconds``."""
    reader = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert reader.stdout is not None and reader.stdout.readline().strip() == "holding"
    return reader


@pytest.fixture
def warehouse_file(tmp_path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE TABLE t AS SELECT 1 AS x")
    return path


def test_a_writer_completes_once_the_reader_lets_go(warehouse_file) -> None:
    reader = _reader_holding(warehouse_file, 1.5)
    started = time.monotonic()
    try:
        with Warehouse(path=str(warehouse_file), lock_timeout_seconds=30).connect() as conn:
            conn.execute("INSERT INTO t VALUES (2)")
        waited = time.monotonic() - started
    finally:
        reader.wait(timeout=30)
    assert 1.0 < waited < 30  # it waited for the reader, then wrote
    with duckdb.connect(str(warehouse_file), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (2,)


def test_a_writer_past_its_bound_fails_with_one_clear_line(warehouse_file) -> None:
    reader = _reader_holding(warehouse_file, 30)
    started = time.monotonic()
    try:
        with pytest.raises(WarehouseLocked) as raised:
            with Warehouse(path=str(warehouse_file), lock_timeout_seconds=1).connect():
                pass
        waited = time.monotonic() - started
    finally:
        reader.kill()
        reader.wait()
    message = str(raised.value)
    assert (
        f"PID {reader.pid}" in message
        and "MLSYS_BACKENDS__WAREHOUSE_LOCK_TIMEOUT_SECONDS" in message
    )
    assert "\n" not in message and "IO Error" not in message
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert 1.0 <= waited < 5


def test_read_df_closes_its_connection_so_a_writer_never_waits(warehouse_file) -> None:
    warehouse = Warehouse(path=str(warehouse_file), lock_timeout_seconds=1)
    assert warehouse.read_df("SELECT x FROM t")["x"].tolist() == [1]
    writer = subprocess.run(
        [sys.executable, "-c", f"import duckdb; duckdb.connect({str(warehouse_file)!r}).close()"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert writer.returncode == 0, writer.stderr
