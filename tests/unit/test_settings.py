"""Settings: everything under MLSYS_HOME by default, production fails fast without its backends."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mlsys_assets.settings import Settings


def test_local_profile_needs_no_environment(tmp_path) -> None:
    settings = Settings(home=tmp_path)
    assert settings.warehouse_path == tmp_path / "warehouse.duckdb"
    assert settings.source_db == f"sqlite:///{tmp_path / 'source.sqlite'}"
    assert settings.tracking_uri == f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    for path in (settings.landing_dir, settings.predictions_dir, settings.dagster_home):
        assert path.is_relative_to(tmp_path)


def test_environment_variables_use_the_mlsys_prefix(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MLSYS_HOME", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("MLSYS_ONLINE_STORE", "redis")
    settings = Settings()
    assert settings.home_dir == tmp_path / "elsewhere"
    assert settings.online_store == "redis"


def test_prod_profile_refuses_to_start_without_its_backends(tmp_path) -> None:
    with pytest.raises(ValidationError, match="MLSYS_SOURCE_DB_URL.*MLSYS_ADMIN_TOKEN"):
        Settings(home=tmp_path, profile="prod")


def test_unknown_backend_is_rejected(tmp_path) -> None:
    with pytest.raises(ValidationError, match="online_store"):
        Settings(home=tmp_path, online_store="cassandra")  # type: ignore[arg-type]
