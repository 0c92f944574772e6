"""MLflow tracking and registry as a Dagster resource.

One class is enough: MLflow already abstracts the backend, so the embedded default (SQLite under
``MLSYS_HOME/mlflow`` with file artifacts) and a tracking server are a different ``tracking_uri``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from mlsys_assets.lazy_imports import load
from mlsys_assets.settings import Settings

if TYPE_CHECKING:
    from mlflow import MlflowClient

DEFAULT_EXPERIMENT = "flight_delay"


class Tracking(dg.ConfigurableResource):
    """Where runs, models and the registry live (an MlflowClient with a fixed URI)."""

    tracking_uri: str = Field(description="MLflow tracking (and registry) URI.")
    artifact_root: str | None = Field(
        default=None,
        description="Artifact location of experiments created here (None: the server's default).",
    )
    experiment_name: str = DEFAULT_EXPERIMENT
    model_name: str = "flight_delay"

    @classmethod
    def from_settings(cls, settings: Settings) -> Tracking:
        server = settings.tracking_uri.startswith(("http://", "https://", "databricks"))
        return cls(
            tracking_uri=settings.tracking_uri,
            artifact_root=None if server else settings.artifact_root,
            model_name=settings.registry.model_name,
        )

    def client(self) -> MlflowClient:
        """A client on this URI; an embedded SQLite store gets its folder created first."""
        # MLflow takes a second to import: only runs that use it, one thread at a time.
        client_class = load("mlflow").MlflowClient

        if self.tracking_uri.startswith("sqlite:///"):
            Path(self.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(
                parents=True, exist_ok=True
            )
        return client_class(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def experiment_id(self) -> str:
        """The experiment's id, created with this resource's artifact root on first use."""
        client = self.client()
        experiment = client.get_experiment_by_name(self.experiment_name)
        if experiment is not None:
            return str(experiment.experiment_id)
        return str(
            client.create_experiment(self.experiment_name, artifact_location=self.artifact_root)
        )

    @contextmanager
    def activated(self) -> Iterator[MlflowClient]:
        """Point MLflow's fluent API (needed by ``log_model``) here, and restore it after."""
        mlflow = load("mlflow")
        client = self.client()
        previous_tracking = mlflow.get_tracking_uri()
        previous_registry = mlflow.get_registry_uri()
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        try:
            yield client
        finally:
            mlflow.set_tracking_uri(previous_tracking)
            mlflow.set_registry_uri(previous_registry)
