"""Read registered versions back: the booster and its contract files, as serving would."""

from __future__ import annotations

from dataclasses import dataclass

import xgboost as xgb
from mlflow.exceptions import MlflowException

from mlsys_assets.model_contract import FEATURE_SPEC_ARTIFACT, FeatureSpec
from mlsys_assets.registry.model_log import read_json_artifact
from mlsys_assets.resources.tracking import Tracking
from mlsys_assets.scoring.pyfunc_model import load_native_uri


@dataclass
class LoadedVersion:
    version: str
    run_id: str
    booster: xgb.Booster
    spec: FeatureSpec
    tags: dict[str, str]


def version_by_alias(tracking: Tracking, alias: str) -> str | None:
    """The version an alias points to, None when the alias (or the model) does not exist."""
    try:
        return str(tracking.client().get_model_version_by_alias(tracking.model_name, alias).version)
    except MlflowException:
        return None


def load_version(tracking: Tracking, version: str) -> LoadedVersion:
    """Load a version's native booster and FeatureSpec."""
    client = tracking.client()
    mv = client.get_model_version(tracking.model_name, version)
    with tracking.activated():
        booster, _ = load_native_uri(f"models:/{tracking.model_name}/{version}")
    spec_data = read_json_artifact(tracking, str(mv.run_id), FEATURE_SPEC_ARTIFACT)
    return LoadedVersion(
        version=str(mv.version),
        run_id=str(mv.run_id),
        booster=booster,
        spec=FeatureSpec(**spec_data),
        tags=dict(mv.tags),
    )
