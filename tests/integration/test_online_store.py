"""The online store on each backend: the same behaviour, and the same answers, on SQLite and Redis.

Each test runs once per backend (``sqlite`` always; ``redis`` against the server of
``make services``, skipped with the reason when it is not there).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from mlsys_assets.features import FEATURE_VIEWS, lookup_online_features, materialize_online
from mlsys_assets.features.catalog import INTRADAY_VIEWS, view_ttl_seconds
from mlsys_assets.features.offline import compute_all
from mlsys_assets.features.parity import parity_mismatches, parity_moment, parity_sample
from mlsys_assets.resources.backends import build_online_store
from mlsys_assets.resources.online_store import OnlineRow, OnlineStore, SQLiteOnlineStore
from mlsys_assets.resources.redis_online_store import RedisOnlineStore
from mlsys_assets.settings import Settings
from tests.integration.conftest import URLS
from tests.reference_data import load_reference

pytestmark = pytest.mark.integration

START, END = dt.date(2013, 1, 1), dt.date(2013, 1, 8)
TABLES = [v.table for v in FEATURE_VIEWS]
BACKENDS = ["sqlite", "redis"]


@pytest.fixture(scope="module")
def features_conn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    """A week of raw tables with every offline feature view computed (read-only afterwards)."""
    path = tmp_path_factory.mktemp("online") / "warehouse.duckdb"
    with duckdb.connect(str(path)) as conn:
        load_reference(conn, START, END)
        compute_all(conn, FEATURE_VIEWS)
    conn = duckdb.connect(str(path), read_only=True)
    yield conn
    conn.close()


def _store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> OnlineStore:
    if backend == "sqlite":
        return build_online_store(Settings(home=tmp_path / "mlsys"))
    prefix = request.getfixturevalue("redis_prefix")
    settings = Settings(
        home=tmp_path / "mlsys",
        backends={"online_store": "redis", "redis_url": URLS.redis_url, "redis_prefix": prefix},
    )
    return build_online_store(settings, view_ttl_seconds=view_ttl_seconds())


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OnlineStore]:
    """An empty online store of the parameter's backend, chosen by settings only."""
    s = _store(request.param, tmp_path, request)
    assert isinstance(s, SQLiteOnlineStore if request.param == "sqlite" else RedisOnlineStore)
    yield s
    s.close()


def test_newer_event_wins_and_state_commits_with_rows(store: OnlineStore) -> None:
    store.write_batch(
        [
            OnlineRow("carrier_delay_stats:UA", 200, None, '[0.5,"a|b"]'),
            OnlineRow("plane_attributes:N1", 100, 150, "[1]"),
        ],
        {"watermark:carrier_delay_stats": "7", "pending:x": "p"},
    )
    # an older event never overwrites a newer one; an equal or newer one does
    store.write_batch([OnlineRow("carrier_delay_stats:UA", 199, None, "[0.1]")])
    assert store.read(["carrier_delay_stats:UA"]) == [(200, None, '[0.5,"a|b"]')]
    store.write_batch([OnlineRow("plane_attributes:N1", 120, None, "[2]")], {"pending:x": None})
    assert store.read(["plane_attributes:N1", "absent:key", "carrier_delay_stats:UA"]) == [
        (120, None, "[2]"),
        None,
        (200, None, '[0.5,"a|b"]'),
    ]
    assert store.read_state() == {"watermark:carrier_delay_stats": "7"}
    assert store.watermark("watermark:carrier_delay_stats") == "7"
    assert store.read([]) == []


def test_online_equals_offline_on_each_backend(
    features_conn: duckdb.DuckDBPyConnection, store: OnlineStore
) -> None:
    stats = materialize_online(features_conn, store, FEATURE_VIEWS, chunk_size=500)
    assert sum(s["rows"] for s in stats.values()) > 100
    now = parity_moment(features_conn, TABLES)
    requests = parity_sample(features_conn, 200, seed=5)
    assert parity_mismatches(features_conn, store, requests, now) == []
    # incremental: nothing changed offline, nothing is written again
    again = materialize_online(features_conn, store, FEATURE_VIEWS)
    assert all(s["rows"] == 0 for s in again.values())


def test_lookups_agree_between_sqlite_and_redis(
    features_conn: duckdb.DuckDBPyConnection, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The same materialization read through both backends gives identical features, including
    what is stale (TTL) or absent, at moments on both sides of each view's TTL."""
    sqlite, redis_store = (_store(b, tmp_path / b, request) for b in BACKENDS)
    for s in (sqlite, redis_store):
        materialize_online(features_conn, s, FEATURE_VIEWS, chunk_size=1_000)
    now = parity_moment(features_conn, TABLES)
    requests = parity_sample(features_conn, 150, seed=9).to_dict("records")
    requests.append(requests[0] | {"tailnum": "N-NOPE", "dest": "XXX"})  # unknown entities
    moments = [now, now + dt.timedelta(hours=3, seconds=1), now + dt.timedelta(days=3)]
    stale_seen = set()
    for moment in moments:
        for flight in requests:
            a = lookup_online_features(sqlite, flight, moment)
            b = lookup_online_features(redis_store, flight, moment)
            assert (a.values, a.missing) == (b.values, b.missing), (moment, flight)
            stale_seen.update(k for k, v in a.missing.items() if v == "stale")
    assert {"weather_temp", "carrier_late_share_7d"} <= stale_seen  # TTLs were exercised
    assert sqlite.read_state() == redis_store.read_state()
    sqlite.close()
    redis_store.close()


def test_redis_expires_keys_by_view_ttl(redis_prefix: str) -> None:
    """Redis drops a key its view's TTL after the write; TTL-less views and state stay."""
    store = RedisOnlineStore(
        url=URLS.redis_url, prefix=redis_prefix, view_ttl_seconds={"origin_weather": 0.3}
    )
    store.write_batch(
        [
            OnlineRow("origin_weather:EWR", 1, None, "[1]"),
            OnlineRow("plane_attributes:N1", 1, None, "[2]"),
        ],
        {"watermark:origin_weather": "1"},
    )
    client = store.client()
    assert 0 < client.pttl(f"{redis_prefix}online:origin_weather:EWR") <= 300
    assert client.pttl(f"{redis_prefix}online:plane_attributes:N1") == -1  # no expiry
    deadline = time.monotonic() + 5
    while store.read(["origin_weather:EWR"])[0] is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.read(["origin_weather:EWR", "plane_attributes:N1"]) == [None, (1, None, "[2]")]
    assert store.read_state() == {"watermark:origin_weather": "1"}
    store.close()


def test_the_view_ttls_reach_redis() -> None:
    store = build_online_store(
        Settings(backends={"online_store": "redis", "redis_url": URLS.redis_url}),
        view_ttl_seconds=view_ttl_seconds(),
    )
    assert isinstance(store, RedisOnlineStore)
    views = (*FEATURE_VIEWS, *INTRADAY_VIEWS)  # the day tables expire too
    expected = {v.name: v.ttl.total_seconds() for v in views if v.ttl is not None}
    assert store.view_ttl_seconds == expected and "origin_weather" in expected
    assert "intraday_plane" in expected
