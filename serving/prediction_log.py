"""The prediction log: append-only Parquet files, written off the request path.

A request only appends its answers, column by column, to an in-memory queue; a writer thread
flushes the queue when it holds ``flush_rows`` records or every ``flush_seconds``, and once
more on ``close`` - so a graceful stop loses nothing. Each flush writes one new file (temp name,
then rename: a reader never sees a half-written file) under ``<dir>/date=YYYY-MM-DD/``, so the log
rotates by day and by flush and DuckDB reads it with
``read_parquet('<dir>/**/*.parquet', hive_partitioning=true)``.

The feature values the model received are a typed struct column (``feature_values``, one field
per feature of the service): the writer turns each feature's column into Arrow in one C call,
where JSON text would cost an encoding per record on the writer thread, holding the GIL that
requests wait for.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from mlsys_assets.features.catalog import FLIGHTS_V1

logger = logging.getLogger(__name__)

FEATURE_VALUES = pa.struct(
    [(f.name, pa.string() if f.categorical else pa.float64()) for f in FLIGHTS_V1.features]
)
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
        ("feature_values", FEATURE_VALUES),  # what the model received (null: missing)
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
Columns = Mapping[str, Any]
"""A chunk of records, column by column: a list per field (a struct field: a dict of lists)."""


class ParquetLog:
    """A buffered, thread-flushed, append-only Parquet log of records with a fixed schema.

    Writers append chunks of columns (``append_columns``; a single record is a chunk of one),
    so the request path never builds a dict per record and the writer never transposes: a
    flush is one Arrow conversion per column, each a short C call.
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
        self._chunks: list[tuple[int, Columns]] = []
        self._pending = 0
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

    def append(self, record: Mapping[str, Any]) -> None:
        """Queue one record (a dict per field; a struct field's value is a dict or None)."""
        columns: dict[str, Any] = {}
        for f in self.schema:
            value = record.get(f.name)
            if pa.types.is_struct(f.type):
                value = value or {}
                columns[f.name] = {sub.name: [value.get(sub.name)] for sub in f.type}
            else:
                columns[f.name] = [value]
        self.append_columns(columns, 1)

    def append_columns(self, columns: Columns, count: int) -> None:
        """Queue ``count`` records given column by column; never blocks on I/O.

        Every field has a list of ``count`` values (a missing field: all null); a struct field
        has a dict of such lists. Past ``max_pending`` queued records the chunk is dropped,
        and counted.
        """
        if count == 0:
            return
        if self._pending + count > self.max_pending:
            self._on_dropped(count)
            return
        with self._lock:
            self._chunks.append((count, columns))
            self._pending += count
            pending = self._pending
        if pending >= self.flush_rows:
            self._wake.set()

    @property
    def pending(self) -> int:
        return self._pending

    def flush(self) -> int:
        """Write every queued record now; returns how many were written."""
        with self._write_lock:
            with self._lock:
                chunks, self._chunks = self._chunks, []
                count, self._pending = self._pending, 0
            if count == 0:
                return 0
            try:
                self._write(chunks, count)
            except Exception:  # noqa: BLE001 - keep the records for the next flush
                logger.exception("prediction log flush failed; %d records kept", count)
                with self._lock:
                    self._chunks[:0] = chunks
                    self._pending += count
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

    def _write(self, chunks: list[tuple[int, Columns]], count: int) -> None:
        arrays = [_field_array(f, [(n, c.get(f.name)) for n, c in chunks]) for f in self.schema]
        table = pa.Table.from_arrays(arrays, schema=self.schema)
        now = dt.datetime.now(dt.UTC)
        folder = self.directory / f"date={now:%Y-%m-%d}"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"part-{now:%Y%m%dT%H%M%S%f}-{os.getpid()}-{next(self._sequence):06d}.parquet"
        tmp = folder / f".{name}.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, folder / name)


def _field_array(f: pa.Field, parts: Sequence[tuple[int, Any]]) -> pa.Array:
    """One field of a flush: its chunks' values concatenated (in C) and converted once."""
    if pa.types.is_struct(f.type):
        children = [
            _field_array(sub, [(n, None if c is None else c.get(sub.name)) for n, c in parts])
            for sub in f.type
        ]
        return pa.StructArray.from_arrays(children, fields=list(f.type))
    values = list(itertools.chain.from_iterable(_values(n, c) for n, c in parts))
    try:
        return pa.array(values, type=f.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):  # one odd value: coerce it
        return pa.array([_coerce(v, f.type) for v in values], type=f.type)


def _values(count: int, column: Sequence[Any] | None) -> Iterable[Any]:
    return itertools.repeat(None, count) if column is None else column


def _coerce(value: Any, kind: pa.DataType) -> Any:
    """A value Arrow refused, as the field's type if it has a reading, else null (not lost:
    the rest of its record is still written)."""
    try:
        pa.array([value], type=kind)
        return value
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        pass
    if pa.types.is_string(kind) and value is not None:
        return str(value)
    if pa.types.is_floating(kind):
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    return None
