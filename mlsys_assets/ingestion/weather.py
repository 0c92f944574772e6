"""Weather: events from the stream -> ``ingest.weather_events`` -> ``raw.weather``.

One transaction reads every event after the consumer's cursor, stores them in the warehouse's
event buffer, advances the cursor, and rebuilds the requested partitions from the buffer: a
crash before COMMIT leaves the cursor where it was (the events are read again), a crash after it
has them stored (they are never read again). A rerun of a partition rebuilds it from the buffer
without touching the stream. ``ack`` after the commit lets the stream know (lag, trimming).
An event the stream could not decode (``StreamEvent.error``) is buffered like the others, in the
partition of the good event before it, and quarantined with its reason: the cursor moves past it.
"""

from __future__ import annotations

import datetime as dt
import time

import duckdb
import pandas as pd

from mlsys_assets.clock import utc_now
from mlsys_assets.ingestion.contracts import Contract, weather_contract
from mlsys_assets.ingestion.event_batches import (
    CONSUMER,
    OFFSET,
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
from mlsys_assets.nycflights import LOCAL_TZ
from mlsys_assets.raw_tables import canonical_weather
from mlsys_assets.resources.event_stream import EventStream, StreamEvent
from mlsys_assets.resources.warehouse import transaction

SOURCE = "weather"
TOPIC = "weather"


def ingest_weather(
    conn: duckdb.DuckDBPyConnection,
    stream: EventStream,
    start: dt.date,
    end: dt.date,
    run_id: str,
    contract: Contract | None = None,
    consumer: str = CONSUMER,
) -> IngestReport:
    """Consume new events, then replace partitions ``start..end`` of raw.weather."""
    began = time.perf_counter()
    contract = contract or weather_contract()
    keys = day_keys(start, end)
    ensure_tables(conn)
    with transaction(conn):
        events, last, consumed = consume(conn, stream, TOPIC, consumer, buffer_events)
        buffered = conn.execute(
            """SELECT event_offset, partition_key, position, record FROM ingest.weather_events
               WHERE partition_key BETWEEN ? AND ? ORDER BY event_offset""",
            [keys[0], keys[-1]],
        ).df()
        report = _rebuild(conn, buffered, keys, start, end, run_id, contract)
    if events:
        stream.ack(TOPIC, consumer, last)
    report.seconds = time.perf_counter() - began
    report.extra.update({"events_consumed": consumed, "cursor": last})
    return report


def buffer_events(conn: duckdb.DuckDBPyConnection, events: list[StreamEvent]) -> int:
    """Store events as received, each assigned to the local day of its observation."""
    if not events:
        return 0
    records = event_records(events)
    stamps = pd.to_datetime(
        pd.Series([r.get("time_hour") if isinstance(r, dict) else None for r in records]),
        utc=True,
        errors="coerce",
        format="ISO8601",
    )
    local = stamps.dt.tz_convert(LOCAL_TZ).dt.strftime("%Y-%m-%d").where(stamps.notna())
    partition = event_partitions(conn, "ingest.weather_events", events, local)
    frame = buffer_frame(events, records, partition)
    insert_frame(conn, "ingest.weather_events", frame)
    return len(frame)


def _rebuild(
    conn: duckdb.DuckDBPyConnection,
    buffered: pd.DataFrame,
    keys: list[str],
    start: dt.date,
    end: dt.date,
    run_id: str,
    contract: Contract,
) -> IngestReport:
    now = utc_now()
    records = buffered_records(buffered)
    problems = event_problems(records, contract)
    raw, whole = event_frame(buffered, records, problems, contract)
    checked = validate(contract, raw.loc[problems.isna().to_numpy()])

    good = canonical_weather(checked.good)
    good["event_offset"] = checked.good[OFFSET].to_numpy()
    good["ingested_at"] = now
    judged = judge_events(SOURCE, contract.version, keys, raw, checked, whole, run_id, now)
    conn.execute("DELETE FROM raw.weather WHERE obs_date BETWEEN ? AND ?", [start, end])
    conn.execute(
        "DELETE FROM raw.quarantine WHERE source = ? AND partition_key BETWEEN ? AND ?",
        [SOURCE, keys[0], keys[-1]],
    )
    insert_frame(conn, "raw.weather", good)
    insert_frame(conn, "raw.quarantine", judged.quarantine)
    insert_frame(conn, "raw.ingestion_log", judged.log)
    return IngestReport(SOURCE, contract.version, judged.counts, broken=judged.broken)
