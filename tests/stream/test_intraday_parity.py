"""Intraday features served online equal the training set's at the same moments, value by value.

The stream processor builds the day tables from the replayed ``schedule`` and ``departures``
topics; the training set builds them from the raw tables. 1,000 (flight, moment) pairs are
sampled over three weeks, at moments before, during and after each flight's prediction time
(so empty windows, aircraft with no departure yet and carriers with none today are included),
and looked up on the embedded SQLite store and on Redis.
"""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np
import pandas as pd
import pytest

from mlsys_assets.features import entity_rows_for_flights
from mlsys_assets.features.catalog import FLIGHTS_V2, INTRADAY_VIEWS
from mlsys_assets.features.online import lookup_online_feature_columns
from mlsys_assets.features.training_set import build_training_set
from mlsys_assets.replay.publish import replay
from mlsys_assets.resources.event_stream import FileEventStream
from mlsys_assets.resources.online_store import OnlineStore, SQLiteOnlineStore
from mlsys_assets.settings import Settings
from mlsys_assets.stream.processor import StreamProcessor
from tests.features.conftest import END, START
from tests.integration.conftest import URLS, redis_problem

NAMES = [f.name for view in INTRADAY_VIEWS for f in view.features]
PAIRS = 1_000


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = Settings(home=tmp_path_factory.mktemp("intraday-parity"))
    replay(settings, END)
    return settings


@pytest.fixture(scope="module")
def pairs(base_conn) -> pd.DataFrame:
    """Flights of the period, each at a moment between 5 h before and 1 h after its
    prediction time (all before the replay clock)."""
    rows = entity_rows_for_flights(base_conn, START + dt.timedelta(days=1), END)
    rng = np.random.default_rng(3)
    sample = rows.iloc[rng.choice(len(rows), PAIRS, replace=False)].reset_index(drop=True)
    shift = pd.to_timedelta(rng.integers(-300, 60, PAIRS), unit="m")
    sample["event_timestamp"] = sample["event_timestamp"] + shift
    return sample


def _store(kind: str, tmp_path) -> OnlineStore:
    if kind == "sqlite":
        return SQLiteOnlineStore(path=str(tmp_path / "online.sqlite"))
    problem = redis_problem()
    if problem:
        pytest.skip(problem)
    from mlsys_assets.resources.redis_online_store import RedisOnlineStore

    return RedisOnlineStore(url=URLS.redis_url, prefix=f"mlsys-test-{uuid.uuid4().hex[:8]}:")


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_online_equals_offline_at_the_same_moments(kind, landing, pairs, base_conn, tmp_path):
    store = _store(kind, tmp_path)
    stream = FileEventStream(root=str(landing.landing_dir / "events"))
    processor = StreamProcessor(stream, store, group=f"parity-{kind}-{tmp_path.name}")
    assert processor.drain() > 0
    offline = build_training_set(base_conn, pairs, service=FLIGHTS_V2)
    requests = [
        {
            "carrier": r.carrier,
            "flight": int(r.flight),
            "origin": r.origin,
            "dest": r.dest,
            "tailnum": r.tailnum if isinstance(r.tailnum, str) else None,
            "scheduled_departure": r.scheduled_departure.to_pydatetime(),
            "distance": float(r.distance),
        }
        for r in pairs.itertuples()
    ]
    moments = [t.to_pydatetime() for t in pairs["event_timestamp"]]
    online = lookup_online_feature_columns(store, requests, moments, service=FLIGHTS_V2)
    mismatches = []
    for name in NAMES:
        served = np.array([np.nan if v is None else v for v in online.columns[name]], dtype=float)
        expected = offline[name].to_numpy(dtype=float)
        bad = ~np.isclose(served, expected, equal_nan=True)
        mismatches += [(name, i, served[i], expected[i]) for i in np.flatnonzero(bad)[:3]]
    assert mismatches == []
    # The sample covers what it claims: empty windows, no previous departure, busy origins.
    assert np.isnan(offline["plane_prev_dep_delay"]).mean() > 0.2
    assert (offline["origin_waiting_2h"] > 0).mean() > 0.2
