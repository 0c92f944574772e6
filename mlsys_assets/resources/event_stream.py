"""The weather event stream: an append-only, offset-addressed log of JSON events.

Consumers never rely on the stream to remember where they are: each consumer stores its cursor
(the last offset it processed) in its own database, in the same transaction as the rows it
derived from the events, and reads ``after`` that offset. ``ack`` then tells the stream what the
consumer group has durably processed (Redis ``XACK``; here a small file), which is what lag
monitoring and trimming use. The file implementation is the embedded default; the Redis Streams
one (``redis_event_stream.py``: entry id ``<offset>-0``, ``XRANGE`` for ``read``, a consumer
group for ``ack``/``read_group``) sits behind the same ABC.
"""

from __future__ import annotations

import fcntl
import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import orjson
from pydantic import Field, PrivateAttr

from mlsys_assets.files import atomic_write_text
from mlsys_assets.gil import STEP, step_aside
from mlsys_assets.resources.folder_watch import FolderWatch
from mlsys_assets.resources.segment_index import CorruptIndex, SegmentIndex, Tail, segment_name

MAX_BAD_EXCERPT = 500  # characters of an undecodable event kept in ``StreamEvent.raw``


@dataclass(frozen=True)
class StreamEvent:
    """One event as read back: its offset, the producer's payload and where it was stored.

    A stored event that cannot be decoded (not UTF-8, not JSON, not a JSON object) is still
    handed over, in its place in offset order, as a *bad event*: ``payload == {}``, ``error``
    says why, and ``raw`` holds a bounded excerpt of what was stored. The consumer decides (mlsys
    quarantines it) and its cursor moves past it; a stream that raised instead would stop every
    consumer at that offset for good. A good event has ``error is None`` and ``raw is None``.
    """

    offset: int
    payload: dict[str, Any]
    position: str
    error: str | None = None
    raw: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def encode_event(payload: Mapping[str, Any]) -> str:
    """One event as compact JSON. orjson first: a publisher thread encodes hundreds of events a
    flush, and the standard library's encoder held the GIL long enough (5 ms per 600 decisions)
    to stall the serving loop beside it; the standard encoder words what orjson refuses (a
    non-string key, an integer past 64 bits) exactly as before. NaN becomes null: a JSON event."""
    try:
        return orjson.dumps(
            payload, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
        ).decode()
    except TypeError:
        return json.dumps(payload, separators=(",", ":"))


def decode_event(data: bytes | str) -> tuple[dict[str, Any], str | None, str | None]:
    """``(payload, error, raw)`` of one stored event: a dict and no error, or ``{}`` and why."""
    try:
        payload = orjson.loads(data)  # the fast path; the slow one below words the errors
    except orjson.JSONDecodeError:
        payload = None
    if isinstance(payload, dict):
        return payload, None, None
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        payload = json.loads(text)
    except UnicodeDecodeError as exc:
        return {}, f"event is not UTF-8 ({exc.reason} at byte {exc.start})", _excerpt(data)
    except (json.JSONDecodeError, RecursionError, ValueError) as exc:
        return {}, f"event is not JSON ({str(exc)[:200]})", _excerpt(data)
    if not isinstance(payload, dict):
        return {}, f"event is JSON {type(payload).__name__}, not an object", _excerpt(data)
    return payload, None, None


def _excerpt(data: bytes | str) -> str:
    text = data.decode("utf-8", errors="backslashreplace") if isinstance(data, bytes) else data
    if len(text) <= MAX_BAD_EXCERPT:
        return text
    return f"{text[:MAX_BAD_EXCERPT]}... ({len(text)} characters)"


class EventStream(dg.ConfigurableResource, ABC):
    """An append-only stream of JSON events per topic, each with a strictly increasing offset."""

    @abstractmethod
    def append(self, topic: str, payloads: Sequence[Mapping[str, Any]]) -> list[int]:
        """Append events atomically (all or none are visible) and return their offsets."""

    @abstractmethod
    def read(self, topic: str, after: int, limit: int | None = None) -> list[StreamEvent]:
        """Events with ``offset > after`` in offset order (at most ``limit``); an event that
        cannot be decoded comes as a bad event (``StreamEvent.error``), never as an exception."""

    @abstractmethod
    def last_offset(self, topic: str) -> int:
        """The offset of the newest event, 0 for an empty topic."""

    @abstractmethod
    def ack(self, topic: str, group: str, offset: int) -> None:
        """Record that consumer ``group`` durably processed every event up to ``offset``."""

    @abstractmethod
    def acked(self, topic: str, group: str) -> int:
        """The offset ``group`` last acknowledged (0 if never)."""

    @abstractmethod
    def groups(self, topic: str) -> list[str]:
        """The consumer groups of ``topic`` (Redis: every group created; files: every group
        that has acknowledged once, so a group that never acknowledged holds nothing back)."""

    @abstractmethod
    def trim(self, topic: str, upto: int) -> int:
        """Remove events at or before ``upto`` (some may stay: whole segments go); returns how
        many went. Offsets are never handed out twice, trimmed or not."""

    def trim_acked(self, topic: str, expected: Iterable[str] = (), keep: int = 0) -> int:
        """Retention: remove what every consumer group has acknowledged, the ``expected`` ones
        included even before they first read (a configured consumer not started yet holds
        everything back), except the newest ``keep`` of those (a consumer that re-reads its
        recent past on a restart). A topic nobody consumes keeps everything: an event no one
        has processed is never thrown away."""
        groups = set(self.groups(topic)) | set(expected)
        if not groups:
            return 0
        upto = min(self.acked(topic, group) for group in sorted(groups)) - max(keep, 0)
        return self.trim(topic, upto) if upto > 0 else 0

    def watch(self, topics: Sequence[str]) -> FolderWatch:
        """What an idle consumer of ``topics`` waits on: ``wait(timeout)`` returns when events
        may have been appended (or after ``timeout``). Here it only sleeps (a consumer polls);
        the file stream is told by the kernel."""
        del topics
        return FolderWatch(())

    def watch_acks(self, topics: Sequence[str]) -> FolderWatch:
        """What a producer waiting for its consumers waits on: ``wait(timeout)`` returns when a
        group may have acknowledged events of ``topics`` (here: it sleeps; files: inotify)."""
        del topics
        return FolderWatch(())

    def read_group(
        self, topic: str, group: str, consumer: str, limit: int | None = None
    ) -> list[StreamEvent]:
        """Events ``group`` has not acknowledged yet, for ``consumer`` (a consumer that has no
        cursor of its own). What a crash left unacknowledged is delivered again; Redis tracks
        it per consumer (pending list), the file stream from the group's last ``ack``."""
        del consumer  # one reader per group here; Redis distinguishes them
        return self.read(topic, after=self.acked(topic, group), limit=limit)


class FileEventStream(EventStream):
    """Events as immutable JSONL segment files under ``root/<topic>/``.

    Each ``append`` writes one new segment named ``<first>-<last>.jsonl`` through a temporary
    file and ``os.replace``, so a reader sees a whole batch or nothing and never a torn line. A
    lock file serialises producers. Which segments exist is read from the topic's index
    (``segment_index.py``), not from a listing of the folder: the tail is one small read and a
    seek a binary search, however many segments the topic holds.
    """

    root: str = Field(description="Folder holding one sub-folder of segments per topic.")

    _indexes: dict[str, SegmentIndex] = PrivateAttr(default_factory=dict)

    def _topic_dir(self, topic: str) -> Path:
        path = Path(self.root) / topic
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _index(self, topic: str) -> SegmentIndex:
        """The topic's index, made (with the folder) on first use. A folder removed later is
        made again by the lock, which a reader takes when it finds no tail."""
        index = self._indexes.get(topic)
        if index is None:
            index = self._indexes[topic] = SegmentIndex(self._topic_dir(topic))
        return index

    def _tail(self, topic: str, *, repair: bool = False) -> tuple[SegmentIndex, Tail]:
        """The topic's index and the tail to read it by.

        While the folder is as the committed tail recorded it: that tail, without the lock.
        When it is not (a segment the index lacks, a writer killed half-way, a topic from
        before the index), under the lock, which repairs; but if another process holds the
        lock, it is mid-append (its temporary segment file moved the folder's mtime), and
        rather than wait for its fsync, a reader reads as of the last commit, as if it had
        come a moment earlier. Only a topic with no valid tail waits."""
        index = self._index(topic)
        committed = None if repair else index.committed()
        if committed is not None and index.describes(committed):
            return index, committed
        with self._lock(topic, wait=committed is None) as held:
            if held or committed is None:  # (not held only when not waited for)
                return index, index.repair() if repair else index.current()
        return index, committed

    @contextmanager
    def _lock(self, topic: str, *, wait: bool = True) -> Iterator[bool]:
        """The topic's lock; with ``wait=False`` yields ``False`` at once when it is held."""
        with open(self._topic_dir(topic) / ".lock", "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def append(self, topic: str, payloads: Sequence[Mapping[str, Any]]) -> list[int]:
        """The protocol of ``segment_index.py``: check, intend, rename, commit."""
        if not payloads:
            return []
        with self._lock(topic):
            index = self._index(topic)
            tail = index.current()
            first = tail.last + 1
            offsets = list(range(first, first + len(payloads)))
            lines = []
            for offset, payload in zip(offsets, payloads, strict=True):
                lines.append(encode_event({"offset": offset, **payload}))
                if offset % STEP == 0:
                    step_aside()  # a serving process's publisher shares the GIL with requests
            index.intend(tail, offsets[0], offsets[-1])
            target = index.folder / segment_name(offsets[0], offsets[-1])
            atomic_write_text(target, "\n".join(lines) + "\n")
            index.commit(tail, offsets[-1])
        return offsets

    def read(self, topic: str, after: int, limit: int | None = None) -> list[StreamEvent]:
        """Line ``i`` of segment ``<first>-<last>.jsonl`` is offset ``first + i``: a bad line's
        offset is known without decoding it (a good line's stored offset must agree)."""
        try:
            return self._read(*self._tail(topic), topic, after, limit)
        except (CorruptIndex, FileNotFoundError):
            # An index missing, garbled or shorter than its tail, or a segment trimmed since
            # the index was read: rebuilt from the folder (trimmed events are simply gone).
            return self._read(*self._tail(topic, repair=True), topic, after, limit)

    def _read(
        self, index: SegmentIndex, tail: Tail, topic: str, after: int, limit: int | None
    ) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        with closing(index.segments_after(tail, after)) as segments:
            for first, last in segments:
                name = segment_name(first, last)
                position = f"{topic}/{name}"
                with open(f"{index.path}/{name}", "rb") as handle:
                    for number, line in enumerate(handle):
                        offset = first + number
                        if offset <= after:
                            continue
                        payload, error, raw = decode_event(line.rstrip(b"\r\n"))
                        stored = payload.pop("offset", offset)
                        if error is None and stored != offset:
                            error = f"event says offset {stored!r}, its place in {name} {offset}"
                            payload, raw = {}, _excerpt(line.rstrip(b"\r\n"))
                        events.append(StreamEvent(offset, payload, position, error, raw))
                        if limit is not None and len(events) >= limit:
                            return events
        return events

    def last_offset(self, topic: str) -> int:
        return self._tail(topic)[1].last

    def watch(self, topics: Sequence[str]) -> FolderWatch:
        """Woken by every append to ``topics`` (its segment and index are written in the
        topic's folder; acknowledgements go to ``_acks/`` and wake nobody)."""
        return FolderWatch(self._topic_dir(topic) for topic in topics)

    def trim(self, topic: str, upto: int) -> int:
        """Remove the segments whose last event is at or before ``upto``, never the newest (its
        last offset is where the next append continues), then reindex: one folder listing."""
        with self._lock(topic):
            index = self._index(topic)
            tail = index.current()
            with closing(index.segments_after(tail, 0)) as segments:
                doomed = [(f, last) for f, last in segments if last <= upto and last < tail.last]
            for first, last in doomed:
                (index.folder / segment_name(first, last)).unlink(missing_ok=True)
            if doomed:
                index.repair()
        return sum(last - first + 1 for first, last in doomed)

    def _acks(self, topic: str) -> Path:
        """One ``<group>.json`` per consumer group that acknowledged: what ``groups`` lists."""
        return self._topic_dir(topic) / "_acks"

    def groups(self, topic: str) -> list[str]:
        folder = self._acks(topic)
        return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []

    def watch_acks(self, topics: Sequence[str]) -> FolderWatch:
        return FolderWatch(self._acks(topic) for topic in topics)

    def ack(self, topic: str, group: str, offset: int) -> None:
        path = self._acks(topic) / f"{group}.json"
        path.parent.mkdir(exist_ok=True)
        # Not fsynced: an ack lost in a power cut redelivers events whose effects are idempotent
        # (the warehouse keys them by offset, the online store keeps the newest), and a
        # consumer acks after every batch, so the fsync would set its latency.
        atomic_write_text(path, json.dumps({"group": group, "offset": offset}), durable=False)

    def acked(self, topic: str, group: str) -> int:
        path = self._acks(topic) / f"{group}.json"
        return int(json.loads(path.read_text())["offset"]) if path.exists() else 0
