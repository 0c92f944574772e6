"""Which segments a file event stream topic holds, without listing its folder.

A topic of the file event stream is one immutable segment file per ``append``
(``<first:012d>-<last:012d>.jsonl``), and a long run has thousands. Finding the newest offset or
the segment that holds ``after + 1`` by listing the folder costs O(segments) per call, and every
append changes the folder, so a listing cached until the folder's mtime moves is thrown away by
each append (the serving process publishes its decisions every 0.25 s). This index makes the
tail one small read and a seek a binary search:

- ``<topic>/_index/segments``: one fixed-width record per segment in offset order,
  ``b"<first:012d> <last:012d>\\n"`` (``RECORD`` = 26 bytes). Decimal, so ``cat`` reads it;
  fixed width, so record ``i`` sits at byte ``26 * i`` and a reader finds the first segment with
  ``last > after`` in log2(n) ``os.pread`` calls and then reads only the records it needs.
- ``<topic>/_index/tail``: one fixed-width line, ``b"<last:012d> <count:010d> <stamp:020d>
  <crc32:08x>\\n"`` (``TAIL_SIZE`` = 54 bytes): the newest offset, how many records are committed
  (readers never look past them), the topic folder's mtime (ns) as the last indexed change left
  it, and a checksum of the three. It is rewritten in place by one ``pwrite``, not replaced
  through a temporary file: on ext4 a rename over an existing file costs 150-700 us of CPU
  (the data is flushed and the old inode freed), as much as the rest of an append. A reader
  that catches the line half-rewritten (or a power cut tore it) sees the checksum fail and asks
  again under the lock, by which time the writer is done.

**The stamp** is how the index knows it still describes the folder: creating, renaming or
removing a file in the topic folder moves its mtime. A segment written by hand, by a process
still running the code from before the index, or renamed into place by a writer killed before
it wrote the tail leaves the folder's mtime different from the stamp (or no tail at all, for a
topic older than the index), and the next reader or appender lists the folder once, under the
topic lock, and reconciles (``repair``). Folder timestamps tick coarsely on many kernels (a
few ms; Linux 6.13+ gives a fine-grained time to a change that follows a ``stat``), so two
changes in one tick could leave one mtime and a plain comparison miss the second. Hence
``_stamp``: after its rename the writer sets the folder's mtime one nanosecond back and records
what the folder then says. The kernel only ever stamps a folder with the current time, which is
never earlier than the last stamp it gave it, so any later change gives a different mtime. (A
process that may not set the folder's times records the plain mtime; the one-tick window
remains there. Writers that take the topic lock never race it; a hand does.)

**Appender protocol**, run by ``FileEventStream.append`` under the topic lock:

1. ``current()``: the tail agrees with the folder and with the index, else ``repair``. A record
   past ``count`` is the intent of a writer killed before its rename (the stamp still matches,
   so no segment moved): it is cut off.
2. ``intend(tail, first, last)``: write the new record at ``26 * count``; not committed yet.
3. the caller renames the segment into place (``atomic_write_text``).
4. ``commit(tail, last)``: stamp the folder, rewrite the tail. Readers see the new segment from
   here on (or from step 3 on, through ``repair``).

A writer SIGKILLed between any two steps leaves either a record past ``count`` and no segment
(step 1 of the next append cuts it off; readers never read it), or a segment in place without a
committed record; then the folder's mtime has moved, and the next reader or appender lists the
folder and indexes it. A temporary segment file left by a kill inside step 3 is removed by that
listing: it runs under the lock, so no writer is writing one.

The index and the tail are not fsynced (the segment is, as before): after a power cut, an index
shorter than its tail or a last record that disagrees with it sends the appender to ``repair``,
which rebuilds from the listing, the source of truth. Segments never overlap (offsets are handed
out under the lock), which is what makes the records sorted by ``first`` sorted by ``last`` too.

Retention (``FileEventStream.trim``, under the topic lock): whole segments at or before an
offset are removed, never the newest (its last offset is where appends continue), then
``repair`` reindexes from one listing. A reader that read the index before and opens a removed
segment gets ``FileNotFoundError`` and reads again through ``repair``.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mlsys_assets.files import atomic_write_text

RECORD = 26  # bytes per index record: b"<first:012d> <last:012d>\n"
TAIL_SIZE = 54  # b"<last:012d> <count:010d> <stamp:020d> <crc32:08x>\n"
SEGMENT = re.compile(r"^(\d{12})-(\d{12})\.jsonl$")
_LEFTOVER = re.compile(r"^\.\d{12}-\d{12}\.jsonl\..+\.tmp$")  # atomic_write_text's, killed
_CHUNK = 256  # records read at once after the binary search (6.5 kB)


class CorruptIndex(ValueError):
    """The index disagrees with its tail (short, or a record that is not a record)."""


def segment_name(first: int, last: int) -> str:
    return f"{first:012d}-{last:012d}.jsonl"


def _record(first: int, last: int) -> bytes:
    return f"{first:012d} {last:012d}\n".encode()


def _parse(record: bytes) -> tuple[int, int]:
    if len(record) == RECORD and record[12:13] == b" " and record[25:26] == b"\n":
        try:
            return int(record[:12]), int(record[13:25])
        except ValueError:
            pass
    raise CorruptIndex(f"not an index record: {record[:RECORD]!r}")


@dataclass(frozen=True)
class Tail:
    """What ``_index/tail`` says: newest offset, committed records, the folder's mtime then."""

    last: int
    count: int
    stamp: int


class SegmentIndex:
    """The index of one topic folder. ``committed``, ``describes`` and ``segments_after`` are
    for readers (no lock); ``current``, ``intend``, ``commit`` and ``repair`` for the holder of
    the topic lock."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._dir = folder / "_index"
        # strings, not Paths: a read builds no Path (pathlib costs more than the syscalls)
        self.path = str(folder)
        self._records = str(self._dir / "segments")
        self._tail = str(self._dir / "tail")

    # -- readers -------------------------------------------------------------------------------

    def committed(self) -> Tail | None:
        """The tail the last commit wrote, whether or not the folder changed since; ``None`` if
        there is none or it fails its checksum (torn by a power cut, or caught half-rewritten:
        the caller then asks again under the lock)."""
        try:
            fd = os.open(self._tail, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            line = os.pread(fd, TAIL_SIZE + 1, 0)
        finally:
            os.close(fd)
        body = line[:44]
        if len(line) != TAIL_SIZE or line[44:45] != b" " or line[-1:] != b"\n":
            return None
        try:
            if int(line[45:53], 16) != zlib.crc32(body):
                return None
            return Tail(last=int(body[:12]), count=int(body[13:23]), stamp=int(body[24:44]))
        except ValueError:
            return None

    def describes(self, tail: Tail) -> bool:
        """Whether the folder is as ``tail`` recorded it: nothing created, renamed or removed
        in it since (the stamp, module docstring)."""
        return tail.stamp == os.stat(self.path).st_mtime_ns

    def snapshot(self) -> Tail | None:
        """The committed tail if it still describes the folder, else ``None``."""
        tail = self.committed()
        return tail if tail is not None and self.describes(tail) else None

    def segments_after(self, tail: Tail, after: int) -> Iterator[tuple[int, int]]:
        """``(first, last)`` of each committed segment with ``last > after``, in offset order:
        a search for the first, then the records from there, a chunk at a time.

        Readers mostly read near the end (a consumer's cursor trails the tail by a batch or
        two), so the search steps back from the newest record in doubling strides, then
        halves the bracket it found: O(log distance from the end), one ``pread`` for a reader
        that is one segment behind, about 2 log2(n) for one that starts from the beginning."""
        if after >= tail.last:
            return
        try:
            fd = os.open(self._records, os.O_RDONLY)
        except FileNotFoundError:
            raise CorruptIndex(f"{self._records} is missing") from None
        try:
            if os.fstat(fd).st_size < tail.count * RECORD:
                raise CorruptIndex(f"{self._records} is shorter than {tail.count} records")

            def ends_after(i: int) -> bool:
                return _parse(os.pread(fd, RECORD, i * RECORD))[1] > after

            # invariant: record ``hi`` ends after ``after``; ``lo`` is -1 or a record that
            # does not. The newest record ends at ``tail.last > after``.
            hi, stride = tail.count - 1, 1
            lo = hi - stride
            while lo >= 0 and ends_after(lo):
                hi, stride = lo, stride * 2
                lo = hi - stride
            lo = max(lo, -1)
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if ends_after(mid):
                    hi = mid
                else:
                    lo = mid
            for start in range(hi, tail.count, _CHUNK):
                block = os.pread(fd, RECORD * min(_CHUNK, tail.count - start), start * RECORD)
                for at in range(0, len(block), RECORD):
                    yield _parse(block[at : at + RECORD])
        finally:
            os.close(fd)

    # -- the lock holder -----------------------------------------------------------------------

    def current(self) -> Tail:
        """The tail, checked against the folder and the index; repaired when they disagree."""
        tail = self.snapshot()
        if tail is None:
            return self.repair()
        fd = os.open(self._records, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size < tail.count * RECORD:
                return self.repair()
            if tail.count:
                try:
                    newest = _parse(os.pread(fd, RECORD, (tail.count - 1) * RECORD))
                except CorruptIndex:
                    return self.repair()
                if newest[1] != tail.last:
                    return self.repair()
            elif tail.last != 0:
                return self.repair()
            if size > tail.count * RECORD:  # an intent whose segment was never renamed
                os.ftruncate(fd, tail.count * RECORD)
        finally:
            os.close(fd)
        return tail

    def intend(self, tail: Tail, first: int, last: int) -> None:
        """Step 2: the new segment's record, after the committed ones (not committed yet)."""
        fd = os.open(self._records, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.pwrite(fd, _record(first, last), tail.count * RECORD)
        finally:
            os.close(fd)

    def commit(self, tail: Tail, last: int) -> Tail:
        """Step 4, after the segment is in place: stamp the folder and write the tail."""
        committed = Tail(last=last, count=tail.count + 1, stamp=self._stamp())
        self._write_tail(committed)
        return committed

    def repair(self) -> Tail:
        """List the folder once and make the index say what is there: index the segments it
        lacks, drop records whose segment is gone, remove temporary files of killed writers."""
        self._dir.mkdir(exist_ok=True)
        found = []
        with os.scandir(self.folder) as entries:
            for entry in entries:
                match = SEGMENT.match(entry.name)
                if match:
                    found.append((int(match.group(1)), int(match.group(2))))
                elif _LEFTOVER.match(entry.name):
                    Path(entry.path).unlink(missing_ok=True)
        with os.scandir(self._dir) as entries:
            for entry in entries:
                if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                    Path(entry.path).unlink(missing_ok=True)
        found.sort()
        records = b"".join(_record(first, last) for first, last in found)
        try:
            stored = Path(self._records).read_bytes()
        except FileNotFoundError:
            stored = None
        if stored != records:
            # A whole new file (not edited in place): a reader holding the old one keeps a
            # consistent view, and a kill half-way leaves the old index.
            atomic_write_text(Path(self._records), records.decode())
        tail = Tail(last=found[-1][1] if found else 0, count=len(found), stamp=self._stamp())
        self._write_tail(tail)
        return tail

    # -- files ---------------------------------------------------------------------------------

    def _stamp(self) -> int:
        """Set the folder's mtime 1 ns back and return it: see the module docstring."""
        st = os.stat(self.folder)
        try:
            os.utime(self.folder, ns=(st.st_atime_ns, st.st_mtime_ns - 1))
        except OSError:  # not the folder's owner
            return st.st_mtime_ns
        return os.stat(self.folder).st_mtime_ns

    def _write_tail(self, tail: Tail) -> None:
        """Rewrite the tail in place, one ``pwrite`` of a fixed-width line (module docstring)."""
        body = f"{tail.last:012d} {tail.count:010d} {tail.stamp:020d}".encode()
        line = body + f" {zlib.crc32(body):08x}\n".encode()
        fd = os.open(self._tail, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.pwrite(fd, line, 0)
            if os.fstat(fd).st_size != TAIL_SIZE:
                os.ftruncate(fd, TAIL_SIZE)
        finally:
            os.close(fd)
