"""The prediction log: append-only Parquet files, written off the request path.

A request only appends its answers, column by column, to an in-memory queue; a writer thread
flushes the queue when it holds ``flush_rows`` records or every ``flush_seconds``, and once
more on ``close`` - so a graceful stop loses nothing. Each flush writes one new file (temp name,
then rename: a reader never sees a half-written file) under ``<dir>/date=YYYY-MM-DD/``, so the log
rotates by day and by flush and DuckDB reads it with
``read_parquet('<dir>/**/*.parquet', hive_partitioning=true)``. The prediction log's day is the
flight's (its scheduled departure's New York day, the partition key of every other table), not
the day the record was written: a replayed 2013 day lands in ``date=2013-...``, and a monitoring
run for a day reads that day's folder. Records without a day (the feedback log) go by write day.

The feature values the model received are a typed struct column (``feature_values``, one field
per feature of the service): the writer turns each feature's column into Arrow in one C call,
where JSON text would cost an encoding per record on the writer thread, holding the GIL that
requests wait for.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import operator
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mlsys_assets.features.catalog import FLIGHTS_V1

logger = logging.getLogger(__name__)

FEATURE_VALUES = pa.struct(
    [(f.name, pa.string() if f.categorical else pa.float64()) for f in FLIGHTS_V1.features]
)
PREDICTION_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("logged_at", pa.timestamp("us")),  # naive UTC, wall clock: when it was answered
        ("requested_at", pa.timestamp("us")),  # naive UTC: the request's moment (replay clock)
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
"""Records column by column: a list per field (a struct field: a dict of lists per sub-field)."""

LOCAL_TZ = "America/New_York"


def flight_day(table: pa.Table) -> pa.Array:
    """The New York day of each record's scheduled departure (naive UTC), as ``YYYY-MM-DD``."""
    local = table.column("scheduled_departure").cast(pa.timestamp("us", tz=LOCAL_TZ))
    return pc.strftime(local, format="%Y-%m-%d")


ROWS_BELOW = 16  # records: a smaller chunk is queued as rows (see ParquetLog)
CONVERT_ROWS = 256  # rows transposed per C call on the writer thread (bounds a GIL hold)


class ParquetLog:
    """A buffered, thread-flushed, append-only Parquet log of records with a fixed schema.

    Records arrive column by column (``append_columns``; ``append`` is a chunk of one). The
    schema is flattened (a struct's sub-fields are leaf columns), and a chunk is queued either
    as its leaf columns (a 1,000-flight batch) or, when small, as rows (single predictions,
    thousands per flush): the writer then transposes rows in C and concatenates columns in C,
    so a flush costs a few C calls per leaf column, whatever the mix of chunk sizes.
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
        partition_by: Callable[[pa.Table], pa.Array] | None = None,
    ) -> None:
        self.directory = directory
        self._partition_by = partition_by  # a day per record; None: the write day
        self.schema = schema
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.max_pending = max_pending
        self._on_written = on_written
        self._on_dropped = on_dropped
        self._on_error = on_error
        self._layout = _Layout(schema)
        self._chunks: list[_Chunk] = []
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
        """Queue one record (a value per field; a struct field's value is a dict or None)."""
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

        Each field has a list of ``count`` values (a field left out: null); a struct field has
        a dict of such lists. Past ``max_pending`` queued records the chunk is dropped, and
        counted.
        """
        if count == 0:
            return
        if self._pending + count > self.max_pending:
            self._on_dropped(count)
            return
        leaves = self._layout.leaves(columns, count)
        if count >= ROWS_BELOW:
            chunk = _Chunk(count, None, leaves)
        else:
            chunk = _Chunk(count, list(zip(*leaves, strict=True)), None)
        with self._lock:
            self._chunks.append(chunk)
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
                self._write(chunks)
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

    def _write(self, chunks: list[_Chunk]) -> None:
        blocks = _leaf_blocks(chunks)
        leaves = []
        for i, kind in enumerate(self._layout.types):
            leaves.append(_array(_gathered(blocks, i), kind))
            _step_aside()
        arrays = self._layout.fields(leaves)
        table = pa.Table.from_arrays(arrays, schema=self.schema)
        now = dt.datetime.now(dt.UTC)
        for day, part in self._by_day(table, f"{now:%Y-%m-%d}"):
            folder = self.directory / f"date={day}"
            folder.mkdir(parents=True, exist_ok=True)
            name = f"part-{now:%Y%m%dT%H%M%S%f}-{os.getpid()}-{next(self._sequence):06d}.parquet"
            tmp = folder / f".{name}.tmp"
            pq.write_table(part, tmp)
            os.replace(tmp, folder / name)

    def _by_day(self, table: pa.Table, today: str) -> list[tuple[str, pa.Table]]:
        if self._partition_by is None:
            return [(today, table)]
        days = pc.fill_null(self._partition_by(table), today)
        distinct = pc.unique(days).to_pylist()
        if len(distinct) == 1:
            return [(distinct[0], table)]
        return [(day, table.filter(pc.equal(days, day))) for day in sorted(distinct)]


class _Chunk(NamedTuple):
    count: int
    rows: list[tuple[Any, ...]] | None  # a small chunk: one tuple of leaf values per record
    leaves: list[Sequence[Any]] | None  # a big one: one sequence per leaf column


class _Layout:
    """A schema's leaf columns: its plain fields, then each struct field's sub-fields.

    Taking a chunk's leaves is two ``itemgetter`` calls per struct (in C) when every field is
    given, as serving's chunks are; a field left out is null.
    """

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        plain = [f for f in schema if not pa.types.is_struct(f.type)]
        structs = [f for f in schema if pa.types.is_struct(f.type)]
        self._plain = [f.name for f in plain]
        self._structs = [(f.name, [sub.name for sub in f.type]) for f in structs]
        self._take_plain = _getter(self._plain)
        self._take_subs = [(name, _getter(subs)) for name, subs in self._structs]
        self.types = [f.type for f in plain] + [sub.type for f in structs for sub in f.type]

    def leaves(self, columns: Columns, count: int) -> list[Sequence[Any]]:
        try:
            out = list(self._take_plain(columns))
            for name, take in self._take_subs:
                out.extend(take(columns[name]))
            return out
        except (KeyError, TypeError):  # fields left out
            absent = [None] * count
            out = [columns.get(name, absent) for name in self._plain]
            for name, subs in self._structs:
                given = columns.get(name) or {}
                out.extend(given.get(sub, absent) for sub in subs)
            return out

    def fields(self, leaves: Sequence[pa.Array]) -> list[pa.Array]:
        """The schema's arrays, in schema order, from the leaf arrays."""
        by_name = dict(zip(self._plain, leaves, strict=False))
        position = len(self._plain)
        for f in self.schema:
            if pa.types.is_struct(f.type):
                children = list(leaves[position : position + f.type.num_fields])
                position += f.type.num_fields
                by_name[f.name] = pa.StructArray.from_arrays(children, fields=list(f.type))
        return [by_name[f.name] for f in self.schema]


def _getter(names: Sequence[str]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """``itemgetter`` that always returns a tuple (even of one)."""
    if len(names) == 1:
        (name,) = names
        return lambda mapping: (mapping[name],)
    return operator.itemgetter(*names)


def _leaf_blocks(chunks: Sequence[_Chunk]) -> list[Sequence[Sequence[Any]]]:
    """The chunks as blocks of leaf columns: consecutive rows transposed, CONVERT_ROWS at once."""
    blocks: list[Sequence[Sequence[Any]]] = []
    rows: list[tuple[Any, ...]] = []
    for chunk in chunks:
        if chunk.rows is not None:
            rows.extend(chunk.rows)
            continue
        blocks.extend(_transposed(rows))
        rows = []
        blocks.append(chunk.leaves)
    blocks.extend(_transposed(rows))
    return blocks


def _gathered(blocks: Sequence[Sequence[Sequence[Any]]], leaf: int) -> list[Any]:
    """One leaf column over all blocks (``list.extend`` copies a block's values in C)."""
    column: list[Any] = []
    for block in blocks:
        column.extend(block[leaf])
    return column


def _transposed(rows: list[tuple[Any, ...]]) -> list[Sequence[Sequence[Any]]]:
    blocks = []
    for start in range(0, len(rows), CONVERT_ROWS):
        blocks.append(list(zip(*rows[start : start + CONVERT_ROWS], strict=True)))
        _step_aside()
    return blocks


def _step_aside() -> None:
    """Release the GIL between two conversions: a request waiting for it runs now, instead of
    at the interpreter's next forced switch (the flush is not in a hurry, requests are)."""
    time.sleep(0)


def _array(values: list[Any], kind: pa.DataType) -> pa.Array:
    try:
        return pa.array(values, type=kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):  # one odd value: coerce it
        return pa.array([_coerce(v, kind) for v in values], type=kind)


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
