"""Ingestion to registry on each deployment: the embedded default, and production backends.

``production`` is PostgreSQL for the source database, Dagster's instance storage and MLflow's
backend store, and Redis for the weather stream and the online store, all chosen by settings
only. A few days are replayed, ingested in one Dagster run, turned into features (offline and
online) and a small model is trained and registered; every piece of state must land in the
selected backend.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from mlsys_assets.features import FEATURE_VIEWS, lookup_online_features, materialize_online
from mlsys_assets.features.catalog import view_ttl_seconds
from mlsys_assets.features.offline import compute_all
from mlsys_assets.features.parity import parity_moment, parity_sample
from mlsys_assets.ingestion.run import check_results, ingest_range
from mlsys_assets.instance import prepare_dagster_home
from mlsys_assets.registry.workflow import train_and_register
from mlsys_assets.replay.publish import replay
from mlsys_assets.resources import build_resources
from mlsys_assets.resources.backends import build_online_store
from mlsys_assets.resources.redis_event_stream import RedisEventStream
from mlsys_assets.resources.redis_online_store import RedisOnlineStore
from mlsys_assets.resources.source_database import SourceDatabase
from mlsys_assets.resources.tracking import Tracking
from mlsys_assets.resources.warehouse import Warehouse
from mlsys_assets.settings import Settings, get_settings
from tests.integration.conftest import URLS

pytestmark = [pytest.mark.integration, pytest.mark.slow]

START, END = dt.date(2013, 1, 1), dt.date(2013, 1, 14)
TRAIN_END, TEST_START = dt.date(2013, 1, 10), dt.date(2013, 1, 12)
SMALL = {
    "MLSYS_TRAINING__VALIDATION_DAYS": "3",
    "MLSYS_TRAINING__TEST_DAYS": "3",
    "MLSYS_TRAINING__WINDOW_DAYS": "14",
}


@pytest.fixture(params=["embedded", "production"])
def deployment(
    request: pytest.FixtureRequest, mlsys_home: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """The environment of one deployment, set as a user would (``MLSYS_*`` variables)."""
    env = {**SMALL, "MLSYS_HOME": str(mlsys_home)}
    if request.param == "production":
        database: Callable[[str], str] = request.getfixturevalue("pg_database")
        env |= {
            "MLSYS_BACKENDS__SOURCE_DB_URL": database("source"),
            "MLSYS_BACKENDS__DAGSTER_PG_URL": database("dagster"),
            "MLSYS_BACKENDS__MLFLOW_TRACKING_URI": database("mlflow"),
            "MLSYS_BACKENDS__EVENT_STREAM": "redis",
            "MLSYS_BACKENDS__ONLINE_STORE": "redis",
            "MLSYS_BACKENDS__REDIS_URL": URLS.redis_url,
            "MLSYS_BACKENDS__REDIS_PREFIX": request.getfixturevalue("redis_prefix"),
        }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DAGSTER_HOME", str(mlsys_home / "dagster_home"))  # restored afterwards
    get_settings.cache_clear()
    return get_settings()


def _pg_count(url: str, sql: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(sql)).scalar_one())
    finally:
        engine.dispose()


def test_ingestion_to_registry(deployment: Settings) -> None:
    settings = deployment
    production = settings.dagster_pg is not None
    resources = build_resources(settings)
    if production:  # every backend is the production one, from settings alone
        assert isinstance(resources["event_stream"], RedisEventStream)
        assert isinstance(resources["online_store"], RedisOnlineStore)
        assert resources["source_database"].url.startswith("postgresql+psycopg://")

    summary = replay(settings, END)
    assert summary.weather_events > 0 and len(summary.flight_files) == 14

    prepare_dagster_home(settings)
    instance = dg.DagsterInstance.from_config(str(settings.dagster_home))
    storage = type(instance.run_storage).__name__
    assert storage == ("PostgresRunStorage" if production else "SqliteRunStorage")
    result = ingest_range(settings, START, END, instance=instance)
    assert result.success
    checks = check_results(result)
    assert all(passed for name, passed in checks.items() if name.endswith(":reconciliation"))
    runs = instance.get_runs()
    assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS]
    assert instance.get_latest_materialization_event(dg.AssetKey("raw_weather")) is not None

    with Warehouse(path=str(settings.warehouse_path)).connect() as conn:
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM raw.flights), (SELECT count(*) FROM raw.weather), "
            "(SELECT count(*) FROM raw.planes)"
        ).fetchone()
        assert counts is not None and min(counts) > 0
        compute_all(conn, FEATURE_VIEWS)
        store = build_online_store(settings, view_ttl_seconds=view_ttl_seconds())
        materialize_online(conn, store, FEATURE_VIEWS)
        now = parity_moment(conn, [v.table for v in FEATURE_VIEWS])
        flight = parity_sample(conn, 1, seed=1).iloc[0].to_dict()
    looked_up = lookup_online_features(store, flight, now)
    assert looked_up.values["carrier_late_share_7d"] is not None
    store.close()

    info = train_and_register(settings, START, TRAIN_END, TEST_START, END, trials=0)
    assert info.version == "1"
    client = Tracking.from_settings(settings).client()
    assert (
        client.get_model_version(settings.registry.model_name, info.version).run_id == info.run_id
    )

    if production:  # and the state really is on the servers
        assert SourceDatabase(url=settings.source_db).read("planes").shape[0] == counts[2]
        assert _pg_count(settings.dagster_pg, "SELECT count(*) FROM runs") == 1
        assert _pg_count(settings.tracking_uri, "SELECT count(*) FROM model_versions") == 1
        stream = resources["event_stream"]
        assert stream.acked("weather", "mlsys-ingestion") == stream.last_offset("weather") > 0
    else:
        assert (settings.mlflow_dir / "mlflow.db").exists()
        assert (settings.home_dir / "source.sqlite").exists()
