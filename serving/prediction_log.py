"""The prediction log: append-only Parquet files, written off the request path.

A request only appends its answers, column by column, to an in-memory queue; a writer thread
flushes the queue when it holds ``flush_rows`` records or every ``flush_seconds``, and once
more on ``close`` - so a graceful stop loses nothing. A crash (``kill -9``, OOM) loses at most
the records answered in the last ``MLSYS_SERVING__LOG_SYNC_SECONDS`` (1 s) plus one write's time
(milliseconds): about every second the writer appends what is queued to a write-ahead file of its
own process and fsyncs it, and the next serve process to start on the same MLSYS_HOME replays
a dead process's write-ahead files into Parquet, each record exactly once (``serving/wal.py``).
Each flush writes one new file (temp name,
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

from mlsys_assets.gil import step_aside
from mlsys_assets.nycflights import LOCAL_TZ
from mlsys_assets.prediction_log_contract import (  # noqa: F401  (the log's schemas, re-exported)
    FEEDBACK_SCHEMA,
    PREDICTION_SCHEMA,
)
from serving.wal import (
    WriteAheadLog,
    dead_owner,
    new_owner,
    read_segment,
    segments_by_owner,
    stale_locks,
)

logger = logging.getLogger(__name__)

Columns = Mapping[str, Any]
"""Records column by column: a list per field (a struct field: a dict of lists per sub-field)."""


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

    With a ``wal_directory`` the loss window of a crash is bounded: every ``sync_seconds`` the
    writer thread converts what was queued to Arrow, appends it to this process's write-ahead
    segment and fsyncs it (``serving/wal.py``); a flush writes the segment's records to Parquet,
    then removes the segment. ``kill -9`` therefore loses at most the records queued in the
    last ``sync_seconds`` (default 1 s) plus one write's time; ``start`` replays the segments
    of dead processes into Parquet, each record once. The request path is unchanged: it only
    queues (the conversion the flush did anyway now happens in the sync, in smaller pieces).
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
        wal_directory: Path | None = None,
        sync_seconds: float = 1.0,
    ) -> None:
        self.directory = directory
        self._partition_by = partition_by  # a day per record; None: the write day
        self.schema = schema
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.sync_seconds = sync_seconds
        self.max_pending = max_pending
        self._on_written = on_written
        self._on_dropped = on_dropped
        self._on_error = on_error
        self._layout = _Layout(schema)
        self._chunks: list[_Chunk] = []
        self._pending = 0  # queued, not yet converted
        self._converted: list[pa.Table] = []  # the open segment's records (in the WAL)
        self._converted_rows = 0
        self._sealed: list[tuple[int, list[pa.Table], int]] = []  # awaiting Parquet
        self._sealed_rows = 0
        self.owner = new_owner()
        self._wal = (
            WriteAheadLog(wal_directory, schema, self.owner) if wal_directory is not None else None
        )
        self._segment = 0  # the open segment's number (also without a WAL: file names)
        self._lock = threading.Lock()  # guards the queue (held for microseconds)
        self._write_lock = threading.Lock()  # one sync or flush at a time
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Replay dead processes' write-ahead segments, then start the writer thread."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if self._wal is not None:
            self._wal.open()
            self.recover()
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
        a dict of such lists. Past ``max_pending`` records not yet in Parquet the chunk is
        dropped, and counted.
        """
        if count == 0:
            return
        if self.pending + count > self.max_pending:
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
        if self.pending >= self.flush_rows:
            self._wake.set()

    @property
    def pending(self) -> int:
        """Records not yet in Parquet (queued, or in the write-ahead segments)."""
        return self._pending + self._converted_rows + self._sealed_rows

    def sync(self) -> int:
        """Make every queued record durable in the write-ahead segment; returns how many."""
        with self._write_lock:
            return self._sync()

    def flush(self) -> int:
        """Write every queued record to Parquet now; returns how many were written."""
        with self._write_lock:
            self._sync()
            if self._converted:
                number = self._wal.seal() if self._wal is not None else self._segment
                self._segment = number + 1
                self._sealed.append((number, self._converted, self._converted_rows))
                self._sealed_rows += self._converted_rows
                self._converted, self._converted_rows = [], 0
            written = 0
            while self._sealed:
                number, tables, count = self._sealed[0]
                try:
                    self._write(pa.concat_tables(tables), f"{self.owner}-{number:06d}")
                except Exception:  # noqa: BLE001 - keep the records for the next flush
                    logger.exception("log flush failed; %d records kept", self.pending)
                    self._on_error()
                    break
                if self._wal is not None:
                    self._wal.remove(number)
                self._sealed.pop(0)
                self._sealed_rows -= count
                written += count
                self._on_written(count)
            return written

    def close(self, timeout: float = 30.0) -> None:
        """Stop the writer thread and flush what is left (the graceful-stop guarantee)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.flush()
        if self._wal is not None:
            self._wal.close()

    def recover(self) -> int:
        """Write dead processes' write-ahead segments to Parquet (each record once), then
        remove them; a live process's segments are left alone. Returns the records replayed."""
        assert self._wal is not None
        directory = self._wal.directory
        replayed = 0
        for owner, segments in segments_by_owner(directory, exclude=self.owner).items():
            with dead_owner(directory, owner) as dead:
                if not dead:
                    continue
                for segment in segments:
                    table = read_segment(segment.path, self.schema)
                    if table.num_rows:
                        self._write(table, f"{owner}-{segment.number:06d}", replace=False)
                    segment.path.unlink(missing_ok=True)
                    replayed += table.num_rows
        for owner in stale_locks(directory, exclude=self.owner):
            with dead_owner(directory, owner):
                pass  # a dead owner without segments: its lock file goes
        if replayed:
            logger.warning("replayed %d dead processes' records: %s", replayed, self.directory)
            self._on_written(replayed)
        return replayed

    def _run(self) -> None:
        tick = self.flush_seconds
        if self._wal is not None:
            tick = min(self.sync_seconds, self.flush_seconds)
        last_flush = time.monotonic()
        while not self._stop.is_set():
            self._wake.wait(tick)
            self._wake.clear()
            if self._stop.is_set():
                break
            due = time.monotonic() - last_flush >= self.flush_seconds
            if due or self.pending >= self.flush_rows or self._wal is None:
                self.flush()
                last_flush = time.monotonic()
            else:
                self.sync()

    def _sync(self) -> int:
        """Convert what is queued (in the open segment from now on), then append it to the WAL."""
        with self._lock:
            chunks, self._chunks = self._chunks, []
            count, self._pending = self._pending, 0
        if count == 0:
            return 0
        try:
            table = self._table(chunks)
        except Exception:  # noqa: BLE001 - keep the records for the next try
            logger.exception("converting %d log records failed; kept", count)
            with self._lock:
                self._chunks[:0] = chunks
                self._pending += count
            self._on_error()
            return 0
        self._converted.append(table)
        self._converted_rows += count
        if self._wal is not None:
            try:
                self._wal.append(table)
            except Exception:  # noqa: BLE001 - still in memory: the next flush writes it
                logger.exception("write-ahead append failed; %d records only in memory", count)
                self._on_error()
                number = self._wal.seal()  # a broken stream takes no more records
                self._segment = number + 1
                self._sealed.append((number, self._converted, self._converted_rows))
                self._sealed_rows += self._converted_rows
                self._converted, self._converted_rows = [], 0
        return count

    def _table(self, chunks: list[_Chunk]) -> pa.Table:
        blocks = _leaf_blocks(chunks)
        leaves = []
        for i, kind in enumerate(self._layout.types):
            leaves.append(_array(_gathered(blocks, i), kind))
            step_aside()  # the flush is not in a hurry, requests are
        arrays = self._layout.fields(leaves)
        return pa.Table.from_arrays(arrays, schema=self.schema)

    def _write(self, table: pa.Table, name: str, *, replace: bool = True) -> None:
        """One file per day, ``part-<name>.parquet``, written whole, fsynced, then renamed in.

        ``replace=False`` (a replay) keeps a file that exists: a flush wrote it from the same
        segment, complete, before the process died.
        """
        today = f"{dt.datetime.now(dt.UTC):%Y-%m-%d}"
        for day, part in self._by_day(table, today):
            folder = self.directory / f"date={day}"
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"part-{name}.parquet"
            if not replace and target.exists():
                continue
            tmp = folder / f".part-{name}.parquet.tmp"
            pq.write_table(part, tmp)
            _fsync(tmp)
            os.replace(tmp, target)
            _fsync(folder)

    def _by_day(self, table: pa.Table, today: str) -> list[tuple[str, pa.Table]]:
        if self._partition_by is None:
            return [(today, table)]
        days = pc.fill_null(self._partition_by(table), today)
        distinct = pc.unique(days).to_pylist()
        if len(distinct) == 1:
            return [(distinct[0], table)]
        return [(day, table.filter(pc.equal(days, day))) for day in sorted(distinct)]


def _fsync(path: Path) -> None:
    """Flush a file (or a folder's entries) to disk: a WAL segment is removed only after."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
        step_aside()  # the flush is not in a hurry, requests are
    return blocks


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
