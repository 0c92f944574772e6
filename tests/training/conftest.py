"""Fixtures of the training and registry tests: five weeks of January-February, features built.

The base warehouse is built once per session; each test copies it into its own MLSYS_HOME.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from mlsys_assets.settings import Settings
from mlsys_assets.training.splits import SplitWindows
from tests.reference_data import feature_warehouse

START = dt.date(2013, 1, 1)
END = dt.date(2013, 2, 3)
TRAIN_START, TRAIN_END = START, dt.date(2013, 1, 21)  # validation: its last VALIDATION_DAYS
TEST_START, TEST_END = dt.date(2013, 1, 23), END
VALIDATION_DAYS = 7
# The same knobs as environment variables, for the process settings the assets resolve.
ENV = {
    "MLSYS_TRAINING__VALIDATION_DAYS": str(VALIDATION_DAYS),
    "MLSYS_TRAINING__TEST_DAYS": "12",
    "MLSYS_TRAINING__WINDOW_DAYS": "21",
    "MLSYS_TRAINING__SEARCH_TRIALS": "2",
    "MLSYS_REGISTRY__GATE_MIN_ROC_AUC": "0.55",  # three weeks of data: the floor is the gate's, not ours
}


@pytest.fixture(scope="session")
def base_warehouse() -> Path:
    """Raw tables and offline features for START..END; never modified (tests copy it)."""
    return feature_warehouse(START, END)


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, migrated MLflow database: creating one takes seconds, copying it does not."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def tracking_settings(mlsys_home: Path, mlflow_template: Path) -> Settings:
    """Settings whose MLSYS_HOME holds a fresh (empty) MLflow registry."""
    settings = Settings(home=mlsys_home)
    settings.mlflow_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(mlflow_template, settings.mlflow_dir / "mlflow.db")
    return settings


@pytest.fixture
def train_settings(
    tracking_settings: Settings, base_warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """Settings of a small world: its own MLSYS_HOME with the base warehouse and a registry."""
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    settings = Settings(home=tracking_settings.home)
    shutil.copy(base_warehouse, settings.warehouse_path)
    return settings


@pytest.fixture
def conn(train_settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(str(train_settings.warehouse_path))
    yield connection
    connection.close()


@pytest.fixture
def windows(train_settings: Settings) -> SplitWindows:
    from mlsys_assets.training.pipeline import explicit_windows

    return explicit_windows(train_settings, TRAIN_START, TRAIN_END, TEST_START, TEST_END)
