"""Bad bytes stop nothing: every line of a broken landing file and every undecodable event ends
quarantined with its reason and a bounded excerpt, the good data lands in full, reconciliation
counts rows, the weather cursor moves on, and a rerun changes nothing.

A clean replay to 2013-01-04, then the sources are damaged the way a sender or a disk would:
2013-01-02's file gets a non-UTF-8 line in its first 8 KB, a NUL byte in a tail number, a row
cut short and a line of binary garbage; 2013-01-03's file is empty; 2013-01-04's is binary
garbage from its first byte; two stored weather events become a non-JSON line and non-UTF-8
bytes. Then one real ``ingest_range`` run (the ``mlsys ingest`` path), twice.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from mlsys_assets.ingestion.flights import flights_file
from mlsys_assets.ingestion.landing_bytes import MAX_RECORD
from mlsys_assets.ingestion.run import check_results, ingest_range
from mlsys_assets.ingestion.store import cursor
from mlsys_assets.ingestion.weather import CONSUMER, TOPIC
from mlsys_assets.replay import replay
from mlsys_assets.resources.event_stream import FileEventStream
from mlsys_assets.settings import Settings
from tests.ingestion.conftest import copy_home

D1, D2, D3, D4 = (dt.date(2013, 1, d) for d in (1, 2, 3, 4))
GARBAGE = bytes(range(256)) * 40 + bytes(reversed(range(256))) * 3  # NULs, CRs, 43 newlines
pytestmark = pytest.mark.slow


def damage_flights(settings: Settings) -> dict[str, int]:
    """Break the files of D2..D4; returns the data lines each day's file holds now."""
    landing = settings.landing_dir
    lines = flights_file(landing, D2).read_bytes().split(b"\n")
    lines[3] = lines[3].replace(b"2013,1,2,", b"2013,1,2,\xff\xfe\xfa", 1)  # not UTF-8
    lines[5] = lines[5].replace(b",N", b",N\x00", 1)  # a NUL in the tail number
    lines[7] = lines[7][:25]  # truncated row
    lines[9] = GARBAGE.replace(b"\n", b"")  # binary garbage in place of a row
    flights_file(landing, D2).write_bytes(b"\n".join(lines))
    flights_file(landing, D3).write_bytes(b"")
    flights_file(landing, D4).write_bytes(GARBAGE)
    return {
        "2013-01-02": len([x for x in lines[1:] if x.strip()]),
        "2013-01-03": 1,
        "2013-01-04": len(GARBAGE.split(b"\n")) - 1,  # every line after its (garbage) header
    }


def damage_events(settings: Settings) -> list[int]:
    """Replace two stored weather events of D2 (in the middle of the day) with a non-JSON line
    and non-UTF-8 bytes; returns their offsets."""
    folder = settings.landing_dir / "events" / TOPIC
    of_d2 = []  # (segment, line) of each event of D2, in offset order
    for segment in sorted(p for p in folder.iterdir() if p.suffix == ".jsonl"):
        for line, text in enumerate(segment.read_bytes().split(b"\n")):
            if f'"day":"{D2.isoformat()}"'.encode() in text:
                of_d2.append((segment, line))
    offsets = []
    for (segment, line), broken in zip(
        (of_d2[30], of_d2[36]),
        (b'{"offset": this is not json', b"\xff\xfe not utf-8 \x00"),
        strict=True,
    ):
        lines = segment.read_bytes().split(b"\n")
        lines[line] = broken
        segment.write_bytes(b"\n".join(lines))
        offsets.append(int(segment.name.split("-")[0]) + line)
    return offsets


def snapshot(settings: Settings) -> tuple:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        return tuple(
            conn.execute(query).fetchall()
            for query in (
                "SELECT * EXCLUDE (ingested_at) FROM raw.flights ORDER BY ALL",
                "SELECT * EXCLUDE (ingested_at) FROM raw.weather ORDER BY ALL",
                "SELECT * EXCLUDE (quarantined_at) FROM raw.quarantine ORDER BY ALL",
                """SELECT source, partition_key, received, accepted, quarantined, duplicates
                   FROM raw.ingestion_log WHERE partition_key IS NOT NULL
                   QUALIFY row_number() OVER (PARTITION BY source, partition_key
                                              ORDER BY ingested_at DESC) = 1
                   ORDER BY ALL""",
            )
        )


@pytest.fixture(scope="module")
def damaged(clean_source: Path, tmp_path_factory: pytest.TempPathFactory):
    settings = copy_home(clean_source, tmp_path_factory.mktemp("hostile") / "mlsys")
    replay(settings, D4, faults=False, seed=42)
    good_rows = len(flights_file(settings.landing_dir, D1).read_bytes().splitlines()) - 1
    data_lines = damage_flights(settings)
    bad_offsets = damage_events(settings)
    result = ingest_range(settings, D1, D4)
    assert result.success
    return settings, result, good_rows, data_lines, bad_offsets


def test_good_days_are_ingested_in_full_and_no_control_character_lands(damaged) -> None:
    settings, _, good_rows, data_lines, _ = damaged
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        per_day = dict(
            conn.execute(
                "SELECT flight_date::VARCHAR, count(*) FROM raw.flights GROUP BY 1"
            ).fetchall()
        )
        nul = conn.execute(
            "SELECT count(*) FROM raw.flights WHERE contains(tailnum, chr(0))"
        ).fetchone()[0]
    assert per_day["2013-01-01"] == good_rows
    assert per_day["2013-01-02"] == data_lines["2013-01-02"] - 4  # all but the four bad lines
    assert "2013-01-03" not in per_day and "2013-01-04" not in per_day
    assert nul == 0


def test_each_bad_line_is_quarantined_with_its_reason_and_a_bounded_excerpt(damaged) -> None:
    settings, *_ = damaged
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        held = conn.execute(
            """SELECT partition_key, reason, record FROM raw.quarantine
               WHERE source = 'flights' ORDER BY partition_key, reason"""
        ).fetchall()
    reasons = {
        day: [r for d, r, _ in held if d == day]
        for day in ("2013-01-02", "2013-01-03", "2013-01-04")
    }
    day2 = " | ".join(reasons["2013-01-02"])
    assert len(reasons["2013-01-02"]) == 4
    assert "line 4 is not UTF-8" in day2
    assert "tailnum: control character" in day2
    assert "line 8 has" in day2 and "truncated" in day2
    assert "line 10 is not UTF-8" in day2  # the garbage line
    assert reasons["2013-01-03"] == ["empty file: no header and no rows"]
    assert len(reasons["2013-01-04"]) == len(GARBAGE.split(b"\n")) - 1  # each line, not 1
    assert all("columns break contract" in r for r in reasons["2013-01-04"])
    assert all(len(reason) < 1_000 for _, reason, _ in held)
    assert all(len(record) <= MAX_RECORD + 200 for *_, record in held)


def test_undecodable_events_are_quarantined_and_the_cursor_moves_past_them(damaged) -> None:
    settings, _, _, _, bad_offsets = damaged
    stream = FileEventStream(root=str(settings.landing_dir / "events"))
    events = stream.read(TOPIC, after=0)
    assert [e.offset for e in events] == list(range(1, len(events) + 1))
    assert [e.offset for e in events if not e.ok] == bad_offsets
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        assert cursor(conn, TOPIC, CONSUMER) == stream.last_offset(TOPIC)
        held = conn.execute(
            "SELECT source_file, reason FROM raw.quarantine WHERE source = 'weather' ORDER BY 1"
        ).fetchall()
        landed = conn.execute("SELECT count(*) FROM raw.weather").fetchone()[0]
    assert sorted(int(f.rsplit("@", 1)[1]) for f, _ in held) == bad_offsets
    assert any("not JSON" in r for _, r in held) and any("not UTF-8" in r for _, r in held)
    assert landed == len(events) - 2


def test_reconciliation_counts_every_line_and_holds(damaged) -> None:
    settings, result, good_rows, data_lines, _ = damaged
    log = {(s, d): (r, a, q, dup) for s, d, r, a, q, dup in snapshot(settings)[3]}
    assert all(r == a + q + dup for r, a, q, dup in log.values())
    assert log[("flights", "2013-01-01")][0] == good_rows
    for day, lines in data_lines.items():
        assert log[("flights", day)][0] == lines, day
    checks = check_results(result)
    assert checks["raw_flights:reconciliation"] and checks["raw_weather:reconciliation"]


def test_a_rerun_changes_nothing(damaged) -> None:
    settings, *_ = damaged
    before = snapshot(settings)
    assert ingest_range(settings, D1, D4).success
    assert snapshot(settings) == before
