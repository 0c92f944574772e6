"""The prediction log: append-only Parquet files, written off the request path.

A request only appends a record to an in-memory queue (even its JSON is encoded later); a writer
thread flushes the queue when it holds ``flush_rows`` records or every ``flush_seconds``, and once
more on ``close`` - so a graceful stop loses nothing. Each flush writes one new file (temp name,
then rename: a reader never sees a half-written file) under ``<dir>/date=YYYY-MM-DD/``, so the log
rotates by day and by flush and DuckDB reads it with
``read_parquet('<dir>/**/*.parquet', hive_partitioning=true)``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import operator
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

logger = logging.getLogger(__name__)

PREDICTION_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("logged_at", pa.timestamp("us")),  # naive UTC
        ("endpoint", pa.string()),
        ("carrier", pa.string()),
        ("flight", pa.int64()),
        ("tailnum", pa.string()),
        ("origin", pa.string()),
        ("dest", pa.string()),
        ("scheduled_departure", pa.timestamp("us")),  # naive UTC
        ("distance", pa.float64()),
        ("features", pa.string()),  # JSON object: the feature values the model received
        ("missing_features", pa.list_(pa.string())),
        ("model_name", pa.string()),
        ("model_version", pa.string()),
        ("variant", pa.string()),
        ("delay_probability", pa.float64()),
        ("delayed", pa.bool_()),
        ("rule", pa.string()),
        ("threshold", pa.float64()),
        ("fallbacks", pa.list_(pa.string())),
        ("latency_ms", pa.float64()),
    ]
)
FEEDBACK_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("logged_at", pa.timestamp("us")),
        ("arr_delay", pa.float64()),
        ("cancelled", pa.bool_()),
    ]
)
JSON_COLUMNS = ("features",)
CONVERT_ROWS = 256  # records per Arrow conversion on the writer thread


class ParquetLog:
    """A buffered, thread-flushed, append-only Parquet log of records with a fixed schema.

    A request appends its record dict to a list (one append under the lock); the writer thread
    turns slices of records into Arrow columns, each column one C call, so a flush costs
    milliseconds of the GIL in short holds, not the hundreds of ``Table.from_pylist``.
    """

    def __init__(
        self,
        directory: Path,
        schema: pa.Schema,
        *,
        flush_rows: int,
        flush_seconds: float,
        max_pending: int,
        on_written: Callable[[int], None] = lambda n: None,
        on_dropped: Callable[[int], None] = lambda n: None,
        on_error: Callable[[], None] = lambda: None,
    ) -> None:
        self.directory = directory
        self.schema = schema
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.max_pending = max_pending
        self._on_written = on_written
        self._on_dropped = on_dropped
        self._on_error = on_error
        self._names = tuple(schema.names)
        self._getter = operator.itemgetter(*self._names)
        self._json = tuple(name for name in JSON_COLUMNS if name in self._names)
        self._records: list[dict[str, Any]] = []
        self._lock = threading.Lock()  # guards the buffer (held for microseconds)
        self._write_lock = threading.Lock()  # one flush at a time
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._sequence = itertools.count()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="parquet-log", daemon=True)
        self._thread.start()

    def append(self, record: dict[str, Any]) -> None:
        """Queue one record; never blocks on I/O (over ``max_pending`` it is dropped, counted)."""
        if len(self._records) >= self.max_pending:
            self._on_dropped(1)
            return
        with self._lock:
            self._records.append(record)
            count = len(self._records)
        if count >= self.flush_rows:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._records)

    def flush(self) -> int:
        """Write every queued record now; returns how many were written."""
        with self._write_lock:
            with self._lock:
                records, self._records = self._records, []
            count = len(records)
            if count == 0:
                return 0
            try:
                self._write(records)
            except Exception:  # noqa: BLE001 - keep the records for the next flush
                logger.exception("prediction log flush failed; %d records kept", count)
                with self._lock:
                    self._records[:0] = records
                self._on_error()
                return 0
            self._on_written(count)
            return count

    def close(self, timeout: float = 30.0) -> None:
        """Stop the writer thread and flush what is left (the graceful-stop guarantee)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            self.flush()

    def _write(self, records: list[dict[str, Any]]) -> None:
        count = len(records)
        batches = []
        # In slices: every conversion is one C call holding the GIL, so a slice bounds how long
        # the event loop can wait for it (a whole flush at once stalled requests for ~20 ms).
        for start in range(0, count, CONVERT_ROWS):
            chunk = records[start : start + CONVERT_ROWS]
            try:  # rows to columns in C; a record without some field takes the slow path
                columns = list(zip(*map(self._getter, chunk), strict=True))
            except KeyError:
                columns = [[record.get(name) for record in chunk] for name in self._names]
            arrays = []
            for f, values in zip(self.schema, columns, strict=True):
                if f.name in self._json:  # encoded here, on the writer thread
                    values = [_to_json(value) for value in values]
                arrays.append(pa.array(values, type=f.type))
            batches.append(pa.RecordBatch.from_arrays(arrays, schema=self.schema))
        table = pa.Table.from_batches(batches, schema=self.schema)
        now = dt.datetime.now(dt.UTC)
        folder = self.directory / f"date={now:%Y-%m-%d}"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"part-{now:%Y%m%dT%H%M%S%f}-{os.getpid()}-{next(self._sequence):06d}.parquet"
        tmp = folder / f".{name}.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, folder / name)


def _to_json(value: Any) -> str | None:
    """A JSON column's value: objects as JSON text (NaN as null), text and None as they are."""
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value, default=str).decode()
