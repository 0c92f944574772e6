"""Typed settings: the one place where mlsys reads its environment.

Every backend choice and path lives here so that the embedded default (DuckDB, SQLite, files,
MLflow on SQLite) and the production backends (PostgreSQL, Redis, a tracking server) are one
environment variable apart, and nothing else in the code reads ``os.environ``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """All of mlsys's configuration, read from ``MLSYS_*`` variables (and ``.env``)."""

    model_config = SettingsConfigDict(
        env_prefix="MLSYS_", env_file=".env", env_ignore_empty=True, extra="ignore"
    )

    profile: Literal["local", "prod"] = "local"
    home: Path = Field(default=Path(".mlsys"), description="Root of all local state.")

    # Source database written by the producers: SQLite file by default, PostgreSQL in prod.
    source_db_url: str | None = None
    # Weather event stream: an append-only log of files by default, Redis Streams in prod.
    event_stream: Literal["file", "redis"] = "file"
    # Online feature store backend.
    online_store: Literal["sqlite", "redis"] = "sqlite"
    redis_url: str = "redis://127.0.0.1:6379/0"

    # MLflow: SQLite registry and local artifacts by default, a tracking server URI in prod.
    mlflow_tracking_uri: str | None = None
    model_name: str = "flight_delay"

    # Serving.
    admin_token: str | None = None
    canary_share: float = Field(default=0.1, ge=0.0, le=1.0)

    # Random seed shared by replay faults, sampling and search.
    seed: int = 42

    @model_validator(mode="after")
    def _prod_needs_real_backends(self) -> Settings:
        if self.profile == "prod":
            missing = [
                name
                for name, value in (
                    ("MLSYS_SOURCE_DB_URL", self.source_db_url),
                    ("MLSYS_MLFLOW_TRACKING_URI", self.mlflow_tracking_uri),
                    ("MLSYS_ADMIN_TOKEN", self.admin_token),
                )
                if not value
            ]
            if missing:
                raise ValueError(f"profile=prod needs {', '.join(missing)}")
        return self

    # Derived locations under MLSYS_HOME (see DESIGN.md "Where state lives").
    @property
    def home_dir(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def landing_dir(self) -> Path:
        return self.home_dir / "landing"

    @property
    def warehouse_path(self) -> Path:
        return self.home_dir / "warehouse.duckdb"

    @property
    def online_store_path(self) -> Path:
        return self.home_dir / "online.sqlite"

    @property
    def predictions_dir(self) -> Path:
        return self.home_dir / "predictions"

    @property
    def reports_dir(self) -> Path:
        return self.home_dir / "reports"

    @property
    def dagster_home(self) -> Path:
        return self.home_dir / "dagster_home"

    @property
    def mlflow_dir(self) -> Path:
        return self.home_dir / "mlflow"

    @property
    def source_db(self) -> str:
        return self.source_db_url or f"sqlite:///{self.home_dir / 'source.sqlite'}"

    @property
    def tracking_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"

    @property
    def artifact_root(self) -> str:
        return (self.mlflow_dir / "artifacts").as_uri()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; cached so that importing a module does no I/O."""
    return Settings()
