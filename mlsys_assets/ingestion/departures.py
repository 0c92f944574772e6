"""Departures: events from the stream -> ``ingest.departure_events`` -> ``raw.departures``.

The weather pattern, for a bitemporal source: one transaction reads every event after the
consumer's cursor, buffers them in the warehouse, advances the cursor and rebuilds partitions
from the buffer, so a crash before COMMIT reads the events again and one after it never does.
Each row's ``available_at`` is the event's ``published_at`` (when the producer published it; a
late event has ``available_at > event_time``), which the buffer keeps beside the record.

A departure's partition (its local scheduled day) still receives events after that day's run:
a flight delayed past midnight leaves the next day, a late event comes up to 90 minutes after
its departure. So a run rebuilds the requested partitions **and** every earlier partition that
received new events, never leaving a consumed departure out of ``raw.departures``.

An exact copy of an event already buffered for the partition (same record) is a duplicate:
counted, not stored twice; the first one consumed (the earliest publication) wins. An event the
stream could not decode (``StreamEvent.error``) goes with the event before it and is quarantined
with its reason, as weather does.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import duckdb
import pandas as pd

from mlsys_assets.clock import utc_now
from mlsys_assets.ingestion.contracts import (
    Contract,
    departure_times_agree,
    departures_contract,
)
from mlsys_assets.ingestion.event_batches import (
    CONSUMER,
    OFFSET,
    STREAM_ERROR,
    buffer_frame,
    buffered_records,
    consume,
    event_frame,
    event_partitions,
    event_problems,
    event_records,
    judge_events,
)
from mlsys_assets.ingestion.report import IngestReport, day_keys
from mlsys_assets.ingestion.store import (
    ensure_tables,
    insert_frame,
)
from mlsys_assets.ingestion.validate import validate
from mlsys_assets.nycflights import FIRST_DAY, LAST_DAY
from mlsys_assets.raw_tables import canonical_departures
from mlsys_assets.resources.event_stream import EventStream, StreamEvent
from mlsys_assets.resources.warehouse import transaction

SOURCE = "departures"
TOPIC = "departures"
PUBLISHED = "_published_at"
YEAR_KEYS = frozenset(day_keys(FIRST_DAY, LAST_DAY))


def ingest_departures(
    conn: duckdb.DuckDBPyConnection,
    stream: EventStream,
    start: dt.date,
    end: dt.date,
    run_id: str,
    contract: Contract | None = None,
    consumer: str = CONSUMER,
) -> IngestReport:
    """Consume new events, then replace partitions ``start..end`` of raw.departures (and the
    earlier partitions the new events belong to)."""
    began = time.perf_counter()
    contract = contract or departures_contract()
    requested = day_keys(start, end)
    ensure_tables(conn)
    with transaction(conn):
        events, last, arrived = consume(conn, stream, TOPIC, consumer, buffer_events)
        stragglers = sorted(k for k in arrived & YEAR_KEYS if k < requested[0])
        keys = stragglers + requested
        buffered = conn.execute(
            """SELECT event_offset, partition_key, position, published_at, record
               FROM ingest.departure_events WHERE list_contains(?, partition_key)
               ORDER BY event_offset""",
            [keys],
        ).df()
        report = _rebuild(conn, buffered, keys, run_id, contract)
    if events:
        stream.ack(TOPIC, consumer, last)
    report.seconds = time.perf_counter() - began
    report.extra.update(
        {"events_consumed": len(events), "cursor": last, "late_partitions": len(stragglers)}
    )
    return report


def buffer_events(conn: duckdb.DuckDBPyConnection, events: list[StreamEvent]) -> set[str]:
    """Store events as received, each in the partition of its flight's local day; returns the
    partitions that received events."""
    if not events:
        return set()
    records = event_records(events)
    parts = pd.DataFrame(
        [
            {k: r.get(k) for k in ("year", "month", "day")} if isinstance(r, dict) else {}
            for r in records
        ],
        columns=["year", "month", "day"],
    ).apply(pd.to_numeric, errors="coerce")
    day = pd.to_datetime(parts, errors="coerce")
    own_day = day.dt.strftime("%Y-%m-%d").where(day.notna())
    partition = event_partitions(conn, "ingest.departure_events", events, own_day)
    published = [_text(e.payload.get("published_at")) for e in events]
    frame = buffer_frame(events, records, partition, published_at=published)
    insert_frame(conn, "ingest.departure_events", frame)
    return set(frame["partition_key"])


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _rebuild(
    conn: duckdb.DuckDBPyConnection,
    buffered: pd.DataFrame,
    keys: list[str],
    run_id: str,
    contract: Contract,
) -> IngestReport:
    now = utc_now()
    records = buffered_records(buffered)
    problems = _event_problems(records, buffered["published_at"], contract)
    raw, whole = event_frame(buffered, records, problems, contract)
    raw[PUBLISHED] = _published(buffered["published_at"]).to_numpy()
    checked = validate(
        contract, raw.loc[problems.isna().to_numpy()], row_rules=(departure_times_agree,)
    )

    good = canonical_departures(checked.good)
    good["available_at"] = checked.good[PUBLISHED].to_numpy()
    good["event_offset"] = checked.good[OFFSET].to_numpy()
    good["ingested_at"] = now
    judged = judge_events(SOURCE, contract.version, keys, raw, checked, whole, run_id, now)
    days = [dt.date.fromisoformat(k) for k in keys]
    conn.execute("DELETE FROM raw.departures WHERE list_contains(?, flight_date)", [days])
    conn.execute(
        "DELETE FROM raw.quarantine WHERE source = ? AND list_contains(?, partition_key)",
        [SOURCE, keys],
    )
    insert_frame(conn, "raw.departures", good)
    insert_frame(conn, "raw.quarantine", judged.quarantine)
    insert_frame(conn, "raw.ingestion_log", judged.log)
    return IngestReport(SOURCE, contract.version, judged.counts, broken=judged.broken)


def _published(values: pd.Series) -> pd.Series:
    """``published_at`` (naive UTC ISO text) as timestamps; NaT when missing or unparseable."""
    stamps = pd.to_datetime(values, errors="coerce", format="ISO8601", utc=True)
    return stamps.dt.tz_localize(None).astype("datetime64[us]")


def _event_problems(records: list[dict], published: pd.Series, contract: Contract) -> pd.Series:
    """Why a whole event is refused (NA when it is not): an undecodable event, fields that break
    the contract, or no publication time (without it the row has no ``available_at``)."""
    problems = event_problems(records, contract)
    when = _published(published).reset_index(drop=True)
    for index in when.index[when.isna()]:
        if STREAM_ERROR not in records[index]:  # an undecodable event says so first
            problems[index] = f"published_at: unparseable value {published.iloc[index]!r}"
    return problems
