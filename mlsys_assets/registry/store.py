"""Read registered versions back: the booster and its contract files, as serving would.

Light to import (MLflow and XGBoost load inside the functions): the alias helpers use it from
sensors and the code location, which must not pay for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlsys_assets.lazy_imports import load
from mlsys_assets.model_contract import FeatureSpec
from mlsys_assets.resources.tracking import Tracking

if TYPE_CHECKING:
    import xgboost as xgb


@dataclass
class LoadedVersion:
    version: str
    run_id: str
    booster: xgb.Booster
    spec: FeatureSpec
    tags: dict[str, str]


def version_by_alias(tracking: Tracking, alias: str) -> str | None:
    """The version an alias points to, None when the alias (or the model) does not exist."""
    mlflow_exception = load("mlflow.exceptions").MlflowException
    try:
        return str(tracking.client().get_model_version_by_alias(tracking.model_name, alias).version)
    except mlflow_exception:
        return None


def load_version(tracking: Tracking, version: str) -> LoadedVersion:
    """Load a version's native booster and FeatureSpec (both from the model's artifacts)."""
    load_native_uri = load("mlsys_assets.scoring.pyfunc_model").load_native_uri  # MLflow

    mv = tracking.client().get_model_version(tracking.model_name, version)
    with tracking.activated():
        booster, spec = load_native_uri(f"models:/{tracking.model_name}/{version}")
    return LoadedVersion(
        version=str(mv.version),
        run_id=str(mv.run_id),
        booster=booster,
        spec=spec,
        tags=dict(mv.tags),
    )
