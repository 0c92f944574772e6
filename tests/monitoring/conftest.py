"""A warehouse with January-June 2013 (raw + features) and a January reference, built once.

Each test gets its own copy under its MLSYS_HOME, so tests stay independent; MLflow's SQLite
store is shared (read only here: no champion exists, the pinned January window is the reference).
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from mlsys_assets.features import FLIGHTS_V1, build_training_set, entity_rows_for_flights
from mlsys_assets.features.catalog import SERVED
from mlsys_assets.features.offline import compute_all
from mlsys_assets.monitoring.reference import get_reference, resolve
from mlsys_assets.resources.run_settings import RunSettings
from mlsys_assets.resources.warehouse import Warehouse
from mlsys_assets.settings import Settings, get_settings
from serving.prediction_log import FEEDBACK_SCHEMA, PREDICTION_SCHEMA, ParquetLog
from serving.services import FEEDBACK_LOG_DIR, PREDICTION_LOG_DIR
from tests.reference_data import load_reference

START, END = dt.date(2013, 1, 1), dt.date(2013, 6, 30)
REFERENCE_WINDOW = "2013-01-01/2013-01-31"


@pytest.fixture(scope="session")
def shared_tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("mlflow")
    return f"sqlite:///{folder / 'mlflow.db'}"


@pytest.fixture(scope="session")
def template_warehouse(tmp_path_factory: pytest.TempPathFactory, shared_tracking_uri: str) -> Path:
    home = tmp_path_factory.mktemp("template")
    settings = Settings(
        home=home,
        backends={"mlflow_tracking_uri": shared_tracking_uri},
        monitoring={"reference_window": REFERENCE_WINDOW},
    )
    with duckdb.connect(str(settings.warehouse_path)) as conn:
        load_reference(conn, START, END)
        compute_all(conn, FLIGHTS_V1.views, START, END)
        found = resolve(settings)
        assert found is not None
        get_reference(conn, settings, *found)  # cached in the warehouse for every copy
    return settings.warehouse_path


@pytest.fixture
def mon(
    mlsys_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    template_warehouse: Path,
    shared_tracking_uri: str,
) -> Iterator[Settings]:
    """Settings of a test's own MLSYS_HOME holding a copy of the template warehouse."""
    monkeypatch.setenv("MLSYS_MONITORING__REFERENCE_WINDOW", REFERENCE_WINDOW)
    monkeypatch.setenv("MLSYS_BACKENDS__MLFLOW_TRACKING_URI", shared_tracking_uri)
    get_settings.cache_clear()
    settings = get_settings()
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(template_warehouse, settings.warehouse_path)
    yield settings
    get_settings.cache_clear()


def warehouse(settings: Settings) -> Warehouse:
    return Warehouse(path=str(settings.warehouse_path))


def resources(settings: Settings) -> dict[str, Any]:
    """What a monitoring asset needs: the warehouse and the run's settings."""
    return {"warehouse": warehouse(settings), "run_settings": RunSettings.from_settings(settings)}


def day_flights(settings: Settings, day: dt.date, n: int | None = None) -> pd.DataFrame:
    """The day's flights with their offline point-in-time features (what serving would serve)."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        rows = entity_rows_for_flights(conn, day, day)
        rows = rows[rows["tailnum"].notna()]
        if n is not None:
            rows = rows.head(n)
        return build_training_set(conn, rows.reset_index(drop=True), service=SERVED)


def log_predictions(settings: Settings, records: list[dict[str, Any]]) -> None:
    """Write prediction records through serving's own writer (the real log format)."""
    log = ParquetLog(settings.predictions_dir / PREDICTION_LOG_DIR, PREDICTION_SCHEMA,
                     flush_rows=10_000, flush_seconds=60, max_pending=100_000)  # fmt: skip
    for record in records:
        log.append(record)
    assert log.flush() == len(records)


def log_feedback(settings: Settings, records: list[dict[str, Any]]) -> None:
    log = ParquetLog(settings.predictions_dir / FEEDBACK_LOG_DIR, FEEDBACK_SCHEMA,
                     flush_rows=10_000, flush_seconds=60, max_pending=100_000)  # fmt: skip
    for record in records:
        log.append(record)
    assert log.flush() == len(records)


def prediction_record(
    flight: pd.Series,
    probability: float,
    *,
    request_id: str,
    variant: str = "champion",
    version: str = "1",
    threshold: float = 0.5,
    latency_ms: float = 5.0,
    features: dict[str, Any] | None = None,
    fallbacks: list[str] | None = None,
) -> dict[str, Any]:
    """One record shaped exactly as serving's pipeline appends it."""
    sched = pd.Timestamp(flight["scheduled_departure"]).to_pydatetime()
    values = features
    if values is None:
        values = {}
        for name in SERVED.feature_names:
            v = flight[name]
            values[name] = None if pd.isna(v) else (v if isinstance(v, str) else float(v))
    return {
        "request_id": request_id,
        "logged_at": sched - dt.timedelta(minutes=30),  # feature time: sched - 1 h
        "endpoint": "/predict",
        "carrier": flight["carrier"],
        "flight": int(flight["flight"]),
        "tailnum": flight["tailnum"],
        "origin": flight["origin"],
        "dest": flight["dest"],
        "scheduled_departure": sched,
        "distance": float(flight["distance"]),
        "feature_values": values,
        "missing_features": sorted(k for k, v in values.items() if v is None),
        "model_name": "flight_delay",
        "model_version": version,
        "variant": variant,
        "delay_probability": probability,
        "delayed": probability >= threshold,
        "rule": "threshold",
        "threshold": threshold,
        "fallbacks": fallbacks or [],
        "latency_ms": latency_ms,
    }
