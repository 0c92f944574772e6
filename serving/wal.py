"""A write-ahead file per process for a log's records: what a ``kill -9`` cannot take back.

The Parquet logs buffer records for seconds (one file per flush keeps the log readable); a
process killed meanwhile would lose the buffer. So the writer thread also appends each batch of
records it converts, about every second, to an append-only Arrow IPC stream and fsyncs it: a
record answered at t is on disk by t + the sync interval (+ one write's time).

Layout, per log: ``<dir>/<owner>.lock`` and ``<dir>/<owner>-<segment:06d>.arrows``. ``owner`` is
unique per process (start time and pid). A segment holds exactly the records of one Parquet
flush: the flush seals it, writes its records as ``part-<owner>-<segment>.parquet`` (one per
day folder) and only then removes it. The owner holds an exclusive ``flock`` on its lock file
for as long as it lives; the kernel drops it when the process dies, however it dies, so a
starting process (any serve worker of the same MLSYS_HOME) can tell a dead owner's segments from
a live worker's by trying the lock. Replaying a segment writes the same file names, skipping any
that a flush already wrote (written whole, then renamed: a file that exists is complete), so a
record is never doubled and a replay interrupted midway is simply replayed again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa

logger = logging.getLogger(__name__)

SEGMENT_SUFFIX = ".arrows"
LOCK_SUFFIX = ".lock"
_SEGMENT = re.compile(r"^(?P<owner>.+)-(?P<number>\d{6})\.arrows$")


def new_owner() -> str:
    """This process's name for its segments and Parquet files (sortable by start time)."""
    return f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%f}-{os.getpid()}"


class WriteAheadLog:
    """One process's segments in ``directory``: append batches, fsync, seal, remove."""

    def __init__(self, directory: Path, schema: pa.Schema, owner: str) -> None:
        self.directory = directory
        self.schema = schema
        self.owner = owner
        self.number = 0  # the open segment's number
        self._lock_fd: int | None = None
        self._file: BinaryIO | None = None
        self._writer: pa.ipc.RecordBatchStreamWriter | None = None

    def open(self) -> None:
        """Take this owner's lock: held until ``close`` or the process's death."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{self.owner}{LOCK_SUFFIX}"
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # Between the create and the flock another process's replay may have taken the
            # file for a dead owner's and removed it: hold a lock only on the file at the path.
            try:
                if os.stat(path).st_ino == os.fstat(fd).st_ino:
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
        self._lock_fd = fd

    def append(self, table: pa.Table) -> None:
        """Append records to the open segment and fsync them (the durability point)."""
        if self._writer is None:
            self._file = open(self.segment_path(self.number), "ab")  # noqa: SIM115 - kept open
            self._writer = pa.ipc.new_stream(self._file, self.schema)
        self._writer.write_table(table)
        assert self._file is not None
        self._file.flush()
        os.fsync(self._file.fileno())

    def seal(self) -> int:
        """Close the open segment (no record goes in it again); returns its number."""
        number = self.number
        if self._writer is not None:
            with contextlib.suppress(Exception):  # a broken stream: its fsynced records stay
                self._writer.close()
            assert self._file is not None
            with contextlib.suppress(OSError):
                self._file.flush()
                os.fsync(self._file.fileno())
            self._file.close()
            self._writer = self._file = None
        self.number += 1
        return number

    def remove(self, number: int) -> None:
        """Drop a segment whose records are in Parquet now."""
        self.segment_path(number).unlink(missing_ok=True)

    def close(self) -> None:
        """Release the lock (after the last flush: no segment is left to replay)."""
        self.seal()
        if self._lock_fd is not None:
            if not any(self.directory.glob(f"{self.owner}-*{SEGMENT_SUFFIX}")):
                (self.directory / f"{self.owner}{LOCK_SUFFIX}").unlink(missing_ok=True)
            os.close(self._lock_fd)  # closing the last descriptor drops the flock
            self._lock_fd = None

    def segment_path(self, number: int) -> Path:
        return self.directory / f"{self.owner}-{number:06d}{SEGMENT_SUFFIX}"


@dataclass(frozen=True)
class DeadSegment:
    owner: str
    number: int
    path: Path


@contextlib.contextmanager
def dead_owner(directory: Path, owner: str) -> Iterator[bool]:
    """Hold a dead owner's lock while its segments are replayed; yields False if it is alive
    (or another process is replaying it right now). The lock file goes last."""
    lock = directory / f"{owner}{LOCK_SUFFIX}"
    try:
        fd = os.open(lock, os.O_RDWR)
    except FileNotFoundError:  # no lock: its owner closed (or another replay finished)
        yield True
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
        if not any(directory.glob(f"{owner}-*{SEGMENT_SUFFIX}")):
            lock.unlink(missing_ok=True)
    finally:
        os.close(fd)


def segments_by_owner(directory: Path, exclude: str) -> dict[str, list[DeadSegment]]:
    """Every other owner's segments, oldest first (alive or dead: ``dead_owner`` tells)."""
    found: dict[str, list[DeadSegment]] = {}
    if not directory.is_dir():
        return found
    for path in directory.iterdir():
        match = _SEGMENT.match(path.name)
        if match is None or match["owner"] == exclude:
            continue
        found.setdefault(match["owner"], []).append(
            DeadSegment(match["owner"], int(match["number"]), path)
        )
    for segments in found.values():
        segments.sort(key=lambda s: s.number)
    return found


def stale_locks(directory: Path, exclude: str) -> list[str]:
    """Owners with a lock file but no segment (e.g. killed before their first sync)."""
    if not directory.is_dir():
        return []
    return [
        p.name.removesuffix(LOCK_SUFFIX)
        for p in directory.glob(f"*{LOCK_SUFFIX}")
        if p.name != f"{exclude}{LOCK_SUFFIX}"
    ]


def read_segment(path: Path, schema: pa.Schema) -> pa.Table:
    """A segment's records; a torn tail (the process died mid-write) is left out."""
    batches: list[pa.RecordBatch] = []
    try:
        with pa.OSFile(str(path), "rb") as source:
            reader = pa.ipc.open_stream(source)
            while True:
                try:
                    batches.append(reader.read_next_batch())
                except StopIteration:
                    break
    except (pa.ArrowInvalid, OSError) as exc:  # empty file, or a batch cut short
        kept = len(batches)
        logger.warning("write-ahead segment %s ends early (%s); %d batches kept", path, exc, kept)
    if not batches or batches[0].schema.equals(schema):
        return pa.Table.from_batches(batches, schema=schema)
    return _conform(pa.Table.from_batches(batches), schema)


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """A segment written by an earlier mlsys (a field added since) in today's schema: the
    fields it lacks are null, so a dead process's records are replayed after an upgrade."""
    columns = [
        table.column(f.name).cast(f.type)
        if f.name in table.column_names
        else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)
