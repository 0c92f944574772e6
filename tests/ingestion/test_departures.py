"""The departures source: each departure published when it happens, ingested bitemporally.

The producer tests move one replay clock forward inside 3 January; the ingestion test consumes a
clean replay directly (the Dagster path and the faults are in ``test_clean_replay.py`` and
``test_ingest_faults.py``).
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest

from mlsys_assets.clock import day_end_utc, replay_now
from mlsys_assets.ingestion.departures import CONSUMER, TOPIC, ingest_departures
from mlsys_assets.ingestion.store import cursor
from mlsys_assets.nycflights import read_table
from mlsys_assets.raw_tables import canonical_departures
from mlsys_assets.replay.publish import DEPARTURES_TOPIC, Replayer, local_instant
from mlsys_assets.resources.event_stream import FileEventStream
from mlsys_assets.settings import Settings
from tests.ingestion.conftest import copy_home
from tests.reference_data import load_reference

DAY = dt.date(2013, 1, 3)
KEY = ["flight_date", "carrier", "flight", "origin"]


def _stream(settings: Settings) -> FileEventStream:
    return FileEventStream(root=str(settings.landing_dir / "events"))


def _published(settings: Settings) -> pd.DataFrame:
    """Every departure event on the stream: its key, kind, publication time, in offset order."""
    events = _stream(settings).read(DEPARTURES_TOPIC, after=0)
    rows = []
    for e in events:
        r = e.payload["record"]
        rows.append(
            {
                "offset": e.offset,
                "flight_date": dt.date(r["year"], r["month"], r["day"]),
                "carrier": r["carrier"],
                "flight": r["flight"],
                "origin": r["origin"],
                "cancelled": r["dep_time"] is None,
                "published_at": dt.datetime.fromisoformat(e.payload["published_at"]),
            }
        )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def truth() -> pd.DataFrame:
    return canonical_departures(read_table("flights"))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Replayer]:
    settings = Settings(home=tmp_path_factory.mktemp("departures"))
    replayer = Replayer(settings)
    replayer.advance(local_instant(dt.datetime(2013, 1, 3, 14, 30)), inclusive=False)
    return settings, replayer


def test_the_clock_inside_a_day_publishes_exactly_the_departures_before_it(world, truth) -> None:
    settings, _ = world
    now = local_instant(dt.datetime(2013, 1, 3, 14, 30))
    published = _published(settings)
    expected = truth[truth.event_time < now]
    assert len(published) == len(expected) > 2000
    assert set(map(tuple, published[KEY].to_numpy())) == set(map(tuple, expected[KEY].to_numpy()))
    assert (published.published_at < now).all()
    assert published.published_at.is_monotonic_increasing  # in time order, offset by offset
    cancelled = published[published.cancelled]
    assert DAY not in set(cancelled.flight_date)  # Jan 3's cancellations wait for its end
    assert set(cancelled.flight_date) == {dt.date(2013, 1, 1), dt.date(2013, 1, 2)}


def test_a_departure_at_exactly_now_waits_unless_inclusive(world, truth) -> None:
    settings, replayer = world
    after = truth[truth.event_time > local_instant(dt.datetime(2013, 1, 3, 14, 30))]
    moment = after.event_time.min().to_pydatetime()
    leaving = set(map(tuple, after[after.event_time == moment][KEY].to_numpy()))
    replayer.advance(moment, inclusive=False)
    keys = set(map(tuple, _published(settings)[KEY].to_numpy()))
    assert not leaving & keys
    summary = replayer.advance(moment, inclusive=True)
    assert summary.departure_events == len(leaving)
    assert summary.stream_events >= summary.departure_events
    assert leaving <= set(map(tuple, _published(settings)[KEY].to_numpy()))


def test_a_new_replayer_resumes_from_the_tail_and_cancellations_come_at_day_end(
    world, truth
) -> None:
    settings, _ = world
    resumed = Replayer(settings)  # a restarted producer: nothing in memory
    end = day_end_utc(DAY)
    resumed.advance(end, inclusive=True)
    published = _published(settings)
    assert published.offset.tolist() == list(range(1, len(published) + 1))
    assert not published.duplicated(KEY).any()  # nothing published twice
    expected = truth[truth.event_time <= end]
    assert len(published) == len(expected)
    jan3 = published[published.cancelled & (published.flight_date == DAY)]
    assert len(jan3) == int(truth[truth.flight_date == DAY].cancelled.sum()) > 0
    assert (jan3.published_at == end).all()


def test_clean_departures_ingested_equal_the_reference_and_a_rerun_changes_nothing(
    clean_source, mlsys_home
) -> None:
    settings = copy_home(clean_source, mlsys_home)  # replayed up to the end of Jan 3
    query = "SELECT * EXCLUDE (ingested_at, event_offset) FROM raw.departures ORDER BY ALL"
    with duckdb.connect(str(settings.warehouse_path)) as conn:
        report = ingest_departures(conn, _stream(settings), dt.date(2013, 1, 1), DAY, "run-1")
        assert cursor(conn, TOPIC, CONSUMER) == _stream(settings).last_offset(TOPIC)
        before = conn.execute(query).fetchall()
        ingest_departures(conn, _stream(settings), DAY, DAY, "rerun")
        assert conn.execute(query).fetchall() == before
    assert report.balanced() and report.totals()["quarantined"] == 0
    with duckdb.connect() as ref:
        load_reference(ref, dt.date(2013, 1, 1), DAY)
        # Known by the clock: flights of Jan 3 that left after midnight are not out yet.
        ref.execute("DELETE FROM raw.departures WHERE available_at > ?", [replay_now(settings)])
        expected = ref.execute(query).fetchall()
    assert len(before) > 2500 and before == expected


def test_stragglers_of_an_ingested_day_land_with_the_next_run(clean_source, mlsys_home) -> None:
    """Jan 3's flights that leave after midnight arrive after Jan 3's run: Jan 4's run puts them
    into Jan 3's partition, and reconciliation still holds for it."""
    settings = copy_home(clean_source, mlsys_home)
    with duckdb.connect(str(settings.warehouse_path)) as conn:
        ingest_departures(conn, _stream(settings), dt.date(2013, 1, 1), DAY, "run-1")
        Replayer(settings).advance(day_end_utc(DAY + dt.timedelta(days=1)))
        report = ingest_departures(
            conn, _stream(settings), DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=1), "run-2"
        )
        late = conn.execute(
            """SELECT count(*) FROM raw.departures
               WHERE flight_date = ? AND event_time >= ?""",
            [DAY, day_end_utc(DAY)],
        ).fetchone()[0]
        logged = conn.execute(
            """SELECT received, accepted FROM raw.ingestion_log
               WHERE source = 'departures' AND partition_key = ? AND run_id = 'run-2'""",
            [DAY.isoformat()],
        ).fetchone()
    assert late > 0 and report.extra["late_partitions"] == 1
    assert logged[0] == logged[1]
