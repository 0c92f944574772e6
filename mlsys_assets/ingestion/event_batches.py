"""What every event source does with a validated batch: its quarantine rows, its
reconciliation log and the broken events to report. Weather and departures share it, so an
event is accounted for the same way whatever its topic."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import duckdb
import pandas as pd

from mlsys_assets.clock import utc_now
from mlsys_assets.ingestion.contracts import Contract
from mlsys_assets.ingestion.report import count_by_partition
from mlsys_assets.ingestion.store import LOG_COLUMNS, QUARANTINE_COLUMNS, cursor, set_cursor
from mlsys_assets.ingestion.validate import PARTITION, RECORD, Validated
from mlsys_assets.resources.event_stream import EventStream, StreamEvent

CONSUMER = "mlsys-ingestion"  # the consumer (group) name of ingestion on every topic it reads
OFFSET = "_offset"  # the event's offset in its topic
POSITION = "_position"  # the segment (or stream) it was read from
STREAM_ERROR = "_stream_error"  # key of a buffered bad event's record (with "_raw")
T = TypeVar("T")
logger = logging.getLogger(__name__)


def event_records(events: Sequence[StreamEvent]) -> list[Any]:
    """Each event's record; an undecodable event as a record naming its error, so it is
    buffered (and later quarantined) like any other."""
    return [
        e.payload.get("record") if e.ok else {STREAM_ERROR: e.error, "_raw": e.raw} for e in events
    ]


def consume(
    conn: duckdb.DuckDBPyConnection,
    stream: EventStream,
    topic: str,
    consumer: str,
    buffer: Callable[[duckdb.DuckDBPyConnection, list[StreamEvent]], T],
) -> tuple[list[StreamEvent], int, T]:
    """Inside the caller's transaction: read the events after ``consumer``'s cursor, ``buffer``
    them and move the cursor past them. Returns the events, the new cursor and what ``buffer``
    returned; the caller acks the cursor once the transaction is committed."""
    after = cursor(conn, topic, consumer)
    events = stream.read(topic, after=after)
    if events and events[0].offset > after + 1:
        logger.warning(
            "topic %s: events %d-%d are gone before %s read them: removed by retention (a "
            "consumer must be named in MLSYS_FEATURES__STREAM_RETENTION_GROUPS) or an append "
            "that never completed", topic, after + 1, events[0].offset - 1, consumer,
        )  # fmt: skip
    buffered = buffer(conn, events)
    last = events[-1].offset if events else after
    if events:
        set_cursor(conn, topic, consumer, last)
    return events, last, buffered


def buffer_frame(
    events: Sequence[StreamEvent],
    records: list[Any],
    partition: pd.Series,
    **extra: list[Any],
) -> pd.DataFrame:
    """The buffer rows of ``events``: offset, partition, position, ``extra`` columns, the record
    as sorted JSON and when it was received."""
    return pd.DataFrame(
        {
            "event_offset": [e.offset for e in events],
            "partition_key": partition,
            "position": [e.position for e in events],
            **extra,
            "record": [json.dumps(r, sort_keys=True) for r in records],
            "received_at": utc_now(),
        }
    )


def event_partitions(
    conn: duckdb.DuckDBPyConnection,
    buffer_table: str,
    events: Sequence[StreamEvent],
    own_day: pd.Series,
) -> pd.Series:
    """The partition of each event: its own local day (``own_day``, ``YYYY-MM-DD``, NA when
    unparseable), else the day the producer published it for; a bad event has no day of its
    own and goes with the event before it (the same publication)."""
    fallback = pd.Series([str(e.payload.get("day", "unknown")) for e in events])
    partition = own_day.where(own_day.notna(), fallback)
    bad = pd.Series([not e.ok for e in events])
    if bad.any():
        row = conn.execute(
            f"""SELECT partition_key FROM {buffer_table} WHERE event_offset < ?
                ORDER BY event_offset DESC LIMIT 1""",
            [events[0].offset],
        ).fetchone()
        before = str(row[0]) if row else None
        partition = partition.where(~bad).ffill().bfill().fillna(before or "unknown")
    return partition


def buffered_records(buffered: pd.DataFrame) -> list[dict[str, Any]]:
    """The buffered events' records, each a dict (a JSON value that is not an object is kept
    under ``_not_an_object``, for the contract to refuse)."""
    records = [json.loads(r) for r in buffered["record"]]
    return [r if isinstance(r, dict) else {"_not_an_object": r} for r in records]


def event_frame(
    buffered: pd.DataFrame, records: list[dict[str, Any]], problems: pd.Series, contract: Contract
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The buffered events as the contract's columns (with partition, record, offset and
    position), and those refused whole (``problems`` not NA) with their reason."""
    raw = contract.apply_aliases(pd.DataFrame.from_records(records))
    raw = raw.reindex(columns=list(contract.columns))
    raw[PARTITION] = buffered["partition_key"].to_numpy()
    raw[RECORD] = buffered["record"].to_numpy()
    raw[OFFSET] = buffered["event_offset"].to_numpy()
    raw[POSITION] = buffered["position"].to_numpy()
    refused = problems.notna().to_numpy()
    whole = raw.loc[refused, [PARTITION, RECORD, OFFSET, POSITION]].assign(
        reason=problems[refused].to_numpy(), record=lambda f: f[RECORD]
    )
    return raw, whole


def event_problems(records: list[dict[str, Any]], contract: Contract) -> pd.Series:
    """Why each whole event is refused (NA when it is not): undecodable, or fields that break
    the contract (one check per shape of record)."""
    shapes = [tuple(r) for r in records]
    verdicts = {shape: contract.column_problems(list(shape)) for shape in set(shapes)}
    problems = pd.Series([verdicts[s] for s in shapes], dtype=object)
    for index, record in enumerate(records):
        if STREAM_ERROR in record:
            problems[index] = f"undecodable event: {record[STREAM_ERROR]}"
    return problems


@dataclass(frozen=True)
class JudgedEvents:
    quarantine: pd.DataFrame  # raw.quarantine rows
    log: pd.DataFrame  # raw.ingestion_log rows
    counts: pd.DataFrame  # per partition: received, accepted, quarantined, duplicates
    broken: list[dict[str, Any]]  # events refused whole (a bounded list, for the report)


def judge_events(
    source: str,
    contract_version: str,
    keys: list[str],
    raw: pd.DataFrame,
    checked: Validated,
    whole: pd.DataFrame,
    run_id: str,
    now: dt.datetime,
) -> JudgedEvents:
    """``raw``: every buffered event; ``checked``: the contract's verdict on those with the
    right fields; ``whole``: those refused before it (reason and record per event)."""
    bad = pd.concat([checked.bad, whole], ignore_index=True)
    quarantine = pd.DataFrame(
        {
            "source": source,
            "partition_key": bad[PARTITION],
            "source_file": bad[POSITION] + "@" + bad[OFFSET].astype(str),
            "contract_version": contract_version,
            "reason": bad["reason"],
            "record": bad["record"],
            "quarantined_at": now,
        }
    )
    counts = count_by_partition(
        keys,
        received=raw,
        accepted=checked.good,
        quarantined=bad,
        duplicates=checked.duplicates,
    )
    log = counts.assign(source=source, run_id=run_id, ingested_at=now)[LOG_COLUMNS]
    broken = [
        {"event": f"{p}@{o}", "reason": r}
        for p, o, r in zip(whole[POSITION], whole[OFFSET], whole["reason"], strict=True)
    ]
    return JudgedEvents(quarantine[QUARANTINE_COLUMNS], log, counts, broken[:50])
