"""Online store: parity with offline, TTL at read time, incremental and resumable materialization."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from mlsys_assets.features import (
    FLIGHTS_V1,
    lookup_online_features,
    lookup_online_features_batch,
    materialize_online,
)
from mlsys_assets.features.catalog import CARRIER_STATS, FEATURE_VIEWS, ORIGIN_WEATHER
from mlsys_assets.features.offline import compute_view
from mlsys_assets.features.parity import parity_mismatches, parity_moment, parity_sample
from mlsys_assets.resources.online_store import OnlineRow, SQLiteOnlineStore

TABLES = [v.table for v in FEATURE_VIEWS]


def _dump(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT key, event_us, valid_to_us, payload FROM online_features ORDER BY key"
        ).fetchall()


@pytest.fixture
def store(tmp_path: Path, base_conn) -> SQLiteOnlineStore:
    s = SQLiteOnlineStore(path=str(tmp_path / "online.sqlite"))
    materialize_online(base_conn, s, FEATURE_VIEWS)
    yield s
    s.close()


def _request(base_conn) -> dict:
    frame = parity_sample(base_conn, 1, seed=3)
    return frame.iloc[0].to_dict()


def test_online_equals_offline_on_the_parity_sample(base_conn, store) -> None:
    now = parity_moment(base_conn, TABLES)
    requests = parity_sample(base_conn, 300, seed=1)
    assert parity_mismatches(base_conn, store, requests, now) == []
    # not vacuous: most features are actually served
    served = [lookup_online_features(store, r, now) for r in requests.to_dict("records")[:20]]
    assert all(len(f.missing) < 10 for f in served)
    assert list(served[0].values) == FLIGHTS_V1.feature_names


def test_ttl_is_enforced_at_read_time(base_conn, store) -> None:
    now = parity_moment(base_conn, TABLES)
    request = _request(base_conn)
    fresh = lookup_online_features(store, request, now)
    assert fresh.values["weather_temp"] is not None
    weather_us = store.read([f"origin_weather:{request['origin']}"])[0][0]
    weather_at = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=weather_us)
    late = lookup_online_features(store, request, weather_at + dt.timedelta(hours=3, seconds=1))
    assert late.missing["weather_temp"] == "stale"
    assert late.values["weather_temp"] is None
    assert "carrier_late_share_7d" not in late.missing  # its TTL is two days
    much_later = lookup_online_features(store, request, now + dt.timedelta(days=3))
    assert much_later.missing["carrier_late_share_7d"] == "stale"
    # a value whose event time is not strictly before now is not known yet
    early = lookup_online_features(store, request, weather_at)
    assert early.missing["weather_temp"] == "absent"


def test_absent_entities_and_aware_times(base_conn, store) -> None:
    now = parity_moment(base_conn, TABLES)
    request = _request(base_conn) | {"tailnum": "N-NOPE"}
    out = lookup_online_features(store, request, now.replace(tzinfo=dt.UTC).astimezone())
    assert out.missing["plane_age"] == "absent"
    assert out.missing["plane_manufacturer"] == "absent"
    none = lookup_online_features(store, request | {"tailnum": None}, now)
    assert none.missing["plane_seats"] == "absent"
    iso = request | {"scheduled_departure": request["scheduled_departure"].isoformat() + "+00:00"}
    assert lookup_online_features(store, iso, now).values == out.values


def test_batch_lookup_equals_single_lookups(base_conn, store) -> None:
    now = parity_moment(base_conn, TABLES)
    requests = parity_sample(base_conn, 100, seed=2).to_dict("records")
    batch = lookup_online_features_batch(store, requests, now)
    assert batch == [lookup_online_features(store, r, now) for r in requests]


def test_a_batch_applies_ttl_and_validity_per_flight(base_conn, store) -> None:
    """Per-flight feature times in one batch: TTL and validity judged per flight, as alone."""
    now = parity_moment(base_conn, TABLES)
    requests = parity_sample(base_conn, 60, seed=4).to_dict("records")
    requests[0] = requests[0] | {"tailnum": "N-NOPE"}
    moments = [now + dt.timedelta(hours=i) for i in range(60)]  # weather is stale after 3 h
    batch = lookup_online_features_batch(store, requests, moments)
    singles = [lookup_online_features(store, r, m) for r, m in zip(requests, moments, strict=True)]
    assert batch == singles
    reasons = [f.missing.get("weather_temp") for f in batch]
    assert reasons[0] is None and reasons[-1] == "stale"
    assert batch[0].missing["plane_seats"] == "absent"


def test_materialization_is_incremental(warehouse_copy, tmp_path: Path) -> None:
    conn = warehouse_copy
    store = SQLiteOnlineStore(path=str(tmp_path / "online.sqlite"))
    first = materialize_online(conn, store, FEATURE_VIEWS)
    assert all(s["rows"] > 0 for s in first.values())
    again = materialize_online(conn, store, FEATURE_VIEWS)
    assert all(s["rows"] == 0 for s in again.values())
    compute_view(conn, ORIGIN_WEATHER, dt.date(2013, 1, 21), dt.date(2013, 1, 21))
    third = materialize_online(conn, store, FEATURE_VIEWS)
    assert third[ORIGIN_WEATHER.name]["rows"] == 3  # three origins, newest observation each
    assert sum(s["rows"] for s in third.values()) == 3
    # recomputing an old partition never overwrites a newer online value
    snapshot = _dump(tmp_path / "online.sqlite")
    compute_view(conn, CARRIER_STATS, dt.date(2013, 1, 3), dt.date(2013, 1, 3))
    materialize_online(conn, store, FEATURE_VIEWS)
    assert _dump(tmp_path / "online.sqlite") == snapshot
    store.close()


class Crash(RuntimeError):
    """The materializing process dies."""


class DiesAfterChunks:
    """A real store whose writer dies (as a killed process would) before chunk ``chunks + 1``."""

    def __init__(self, store: SQLiteOnlineStore, chunks: int) -> None:
        self.store, self.left = store, chunks

    def read_state(self) -> dict[str, str]:
        return self.store.read_state()

    def write_batch(
        self, rows: Sequence[OnlineRow], state: Mapping[str, str | None] | None = None
    ) -> int:
        if rows:
            if self.left == 0:
                raise Crash
            self.left -= 1
        return self.store.write_batch(rows, state)


def test_crash_half_way_is_consistent_and_resumed(base_conn, tmp_path: Path) -> None:
    clean = SQLiteOnlineStore(path=str(tmp_path / "clean.sqlite"))
    materialize_online(base_conn, clean, FEATURE_VIEWS, chunk_size=500)
    crashed = SQLiteOnlineStore(path=str(tmp_path / "crashed.sqlite"))
    with pytest.raises(Crash):
        materialize_online(base_conn, DiesAfterChunks(crashed, 6), FEATURE_VIEWS, chunk_size=500)
    partial = _dump(tmp_path / "crashed.sqlite")
    assert 0 < len(partial) < len(_dump(tmp_path / "clean.sqlite"))
    assert any(name.startswith("pending:") for name in crashed.read_state())
    assert set(partial) <= set(_dump(tmp_path / "clean.sqlite"))  # every row written is final
    resumed = materialize_online(base_conn, crashed, FEATURE_VIEWS, chunk_size=500)
    assert _dump(tmp_path / "crashed.sqlite") == _dump(tmp_path / "clean.sqlite")
    assert not any(name.startswith("pending:") for name in crashed.read_state())
    # resumed after the last committed key: the chunks already written were not redone
    total = sum(s["rows"] for s in resumed.values())
    assert total == len(_dump(tmp_path / "clean.sqlite")) - len(partial)
    clean.close()
    crashed.close()


def test_readers_do_not_block_on_a_writer(base_conn, store) -> None:
    now = parity_moment(base_conn, TABLES)
    request = _request(base_conn)
    expected = lookup_online_features(store, request, now)
    writer = sqlite3.connect(store.path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE online_features SET payload = '[]'")
    started = time.monotonic()
    during = lookup_online_features(store, request, now)
    assert time.monotonic() - started < 1.0  # behaviour: no wait for the lock (busy timeout 30 s)
    assert during == expected  # the uncommitted write is invisible
    writer.execute("ROLLBACK")
    writer.close()
