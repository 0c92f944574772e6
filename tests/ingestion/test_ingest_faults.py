"""Ingesting a faulty replay through Dagster: every fault accounted for, loudly when needed.

One real ``dg.materialize`` run (the ``mlsys ingest`` code path) on a persistent instance over
2013-01-01..10, then assertions on the real DuckDB file.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from mlsys_assets.clock import replay_now
from mlsys_assets.ingestion.run import ingest_range
from tests.ingestion.conftest import FAULTY_UNTIL, copy_home, read_faults

START = dt.date(2013, 1, 1)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ingested(faulty_source: Path, tmp_path_factory: pytest.TempPathFactory):
    settings = copy_home(faulty_source, tmp_path_factory.mktemp("ingested") / "mlsys")
    result = ingest_range(settings, START, FAULTY_UNTIL)
    assert result.success
    return settings, result


def _conn(settings) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(settings.warehouse_path), read_only=True)


def _check(result: dg.ExecuteInProcessResult, asset: str, name: str) -> dg.AssetCheckEvaluation:
    (found,) = [
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_key.to_user_string() == asset and e.check_name == name
    ]
    return found


def test_every_malformed_row_is_quarantined_with_its_reason(ingested) -> None:
    settings, _ = ingested
    faults = read_faults(settings)
    malformed = [
        f for f in faults["rows"] if f["kind"] != "duplicate" and f["source"] != "departures"
    ]
    assert {f["kind"] for f in malformed} == {
        "unparseable_time",
        "negative_distance",
        "unknown_airport",
    }
    with _conn(settings) as conn:
        held = conn.execute(
            "SELECT source, partition_key, reason, record FROM raw.quarantine"
        ).fetchall()
    for fault in malformed:
        matches = [
            reason
            for source, partition, reason, record in held
            if source == fault["source"]
            and partition == fault["day"]
            and _same_key(fault["source"], fault, json.loads(record))
        ]
        assert matches, f"fault not quarantined: {fault}"
        assert fault["column"] in matches[0]


def _same_key(source: str, fault: dict, record: dict) -> bool:
    """The quarantined record is the faulted one: the bad value as sent, the rest of its key."""
    key = fault["key"]
    if str(record[fault["column"]]) != str(fault["value"]):
        return False
    if source == "flights":
        return (record["carrier"], int(record["flight"])) == (key["carrier"], key["flight"])
    return fault["column"] == "time_hour" or record["time_hour"] == key["time_hour"]


def test_duplicates_are_counted_and_land_once(ingested) -> None:
    settings, _ = ingested
    faults = read_faults(settings)
    per_day: dict[tuple[str, str], int] = {}
    for fault in faults["rows"]:
        if fault["kind"] == "duplicate":
            per_day[(fault["source"], fault["day"])] = (
                per_day.get((fault["source"], fault["day"]), 0) + 1
            )
    with _conn(settings) as conn:
        logged = {
            (s, p): d
            for s, p, d in conn.execute(
                "SELECT source, partition_key, duplicates FROM raw.ingestion_log WHERE duplicates > 0"
            ).fetchall()
        }
        (dupes,) = conn.execute(
            """SELECT count(*) FROM (SELECT 1 FROM raw.flights
               GROUP BY flight_date, carrier, flight, origin HAVING count(*) > 1)"""
        ).fetchone()
    assert logged == per_day
    assert dupes == 0


def test_reconciliation_holds_for_every_partition(ingested) -> None:
    settings, result = ingested
    with _conn(settings) as conn:
        rows = conn.execute(
            """SELECT source, partition_key, received, accepted, quarantined, duplicates
               FROM raw.ingestion_log WHERE partition_key IS NOT NULL"""
        ).fetchall()
    assert len(rows) == 3 * 10
    assert all(r == a + q + d for *_, r, a, q, d in rows)
    for asset in (
        "raw_flights",
        "raw_weather",
        "raw_departures",
        "raw_planes",
        "raw_airlines",
        "raw_airports",
    ):
        assert _check(result, asset, "reconciliation").passed
    meta = result.asset_materializations_for_node("raw_flights")[0].metadata
    assert (
        meta["received"].value
        == meta["accepted"].value + meta["quarantined"].value + meta["duplicates"].value
    )


def test_renamed_column_file_is_quarantined_whole_and_its_check_fails(ingested) -> None:
    settings, result = ingested
    plan = read_faults(settings)["plan"]
    day = plan["renamed_day"]
    with _conn(settings) as conn:
        accepted = conn.execute(
            "SELECT count(*) FROM raw.flights WHERE flight_date = ?", [day]
        ).fetchone()[0]
        reasons = conn.execute(
            "SELECT DISTINCT reason FROM raw.quarantine WHERE source = 'flights' AND partition_key = ?",
            [day],
        ).fetchall()
        (received,) = conn.execute(
            "SELECT received FROM raw.ingestion_log WHERE source = 'flights' AND partition_key = ?",
            [day],
        ).fetchone()
    assert accepted == 0 and received > 800
    assert len(reasons) == 1
    assert plan["renamed_from"] in reasons[0][0] and plan["renamed_to"] in reasons[0][0]
    check = _check(result, "raw_flights", "contract")
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert _check(result, "raw_weather", "contract").passed


def test_missing_day_fails_the_freshness_check(ingested) -> None:
    settings, result = ingested
    plan = read_faults(settings)["plan"]
    check = _check(result, "raw_flights", "freshness")
    assert not check.passed
    stale = check.metadata["missing_or_stale_days"].value
    assert plan["missing_day"] in stale
    assert plan["renamed_day"] in stale  # nothing accepted that day either
    assert plan["late_day"] not in stale  # late, but arrived (replay passed late_day + 2)
    assert _check(result, "raw_weather", "freshness").passed


def test_rerunning_a_partition_changes_nothing(ingested) -> None:
    settings, _ = ingested

    def state() -> tuple:
        with _conn(settings) as conn:
            flights = conn.execute(
                "SELECT * EXCLUDE (ingested_at) FROM raw.flights ORDER BY ALL"
            ).fetchall()
            weather = conn.execute(
                "SELECT * EXCLUDE (ingested_at) FROM raw.weather ORDER BY ALL"
            ).fetchall()
            held = conn.execute(
                "SELECT * EXCLUDE (quarantined_at) FROM raw.quarantine ORDER BY ALL"
            ).fetchall()
            planes = conn.execute(
                "SELECT * EXCLUDE (ingested_at) FROM raw.planes ORDER BY ALL"
            ).fetchall()
            departures = conn.execute(
                "SELECT * EXCLUDE (ingested_at) FROM raw.departures ORDER BY ALL"
            ).fetchall()
        return flights, weather, held, planes, departures

    before = state()
    day = dt.date(2013, 1, 3)
    assert ingest_range(settings, day, day).success
    assert state() == before


def _departure_faults(settings, kind: str) -> list[dict]:
    return [
        f
        for f in read_faults(settings)["rows"]
        if f["source"] == "departures" and f["kind"] == kind
    ]


def test_departure_faults_are_counted_quarantined_and_ingested_late(ingested) -> None:
    """Per day: the duplicate event counted once, the unparseable dep_delay quarantined, the
    late event ingested with available_at after its event_time by exactly its lateness."""
    settings, result = ingested
    malformed = _departure_faults(settings, "unparseable_delay")
    late = _departure_faults(settings, "late_event")
    assert len(malformed) == len(late) == len(_departure_faults(settings, "duplicate")) == 10
    clock = replay_now(settings)
    with _conn(settings) as conn:
        held = conn.execute(
            """SELECT partition_key, reason, record FROM raw.quarantine
               WHERE source = 'departures'"""
        ).fetchall()
        rows = {
            (str(d), c, f, o): (e, a)
            for d, c, f, o, e, a in conn.execute(
                """SELECT flight_date, carrier, flight, origin, event_time, available_at
                   FROM raw.departures"""
            ).fetchall()
        }
        (dupes,) = conn.execute(
            """SELECT count(*) FROM (SELECT 1 FROM raw.departures
               GROUP BY flight_date, carrier, flight, origin HAVING count(*) > 1)"""
        ).fetchone()
    assert dupes == 0
    assert len(held) == len(malformed)
    for fault in malformed:
        (reason,) = [
            r
            for p, r, rec in held
            if p == fault["day"] and json.loads(rec)["dep_delay"] == fault["value"]
        ]
        assert "dep_delay: unparseable value" in reason
    published = [f for f in late if dt.datetime.fromisoformat(f["published_at"]) <= clock]
    assert len(published) >= 9  # the last day's may still be on its way
    for fault in published:
        key = fault["key"]
        event_time, available_at = rows[
            (key["flight_date"], key["carrier"], key["flight"], key["origin"])
        ]
        assert event_time.isoformat() == fault["event_time"]
        assert available_at.isoformat() == fault["published_at"]
        assert available_at > event_time
    assert _check(result, "raw_departures", "contract").passed
    assert _check(result, "raw_departures", "reconciliation").passed
    assert _check(result, "raw_departures", "freshness").passed
