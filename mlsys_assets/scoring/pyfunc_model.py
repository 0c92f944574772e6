"""The registered model as an MLflow pyfunc that scores the feature frame the signature describes.

MLflow's own XGBoost pyfunc builds a ``DMatrix`` without ``enable_categorical``, so it cannot
score a booster trained on categoricals: ``mlflow models serve``, ``mlflow.pyfunc.load_model``
and ``mlflow.pyfunc.spark_udf`` would all fail on our model. This wrapper runs the same
``ModelBundle`` code as online serving and batch scoring (string categoricals -> the training
category codes, numerics -> float64), so every MLflow entry point scores a flight exactly as
mlsys does. The native booster (``booster.ubj``) and ``feature_spec.json`` travel as the model's
artifacts; ``load_native`` reads them without going through pyfunc.

Whoever loads the pyfunc needs ``mlsys`` importable (the class is pickled by reference): the
same virtualenv here, the project's wheel on a Spark cluster's workers.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow.pyfunc
import numpy as np
import pandas as pd  # at runtime: MLflow resolves predict's type hints (and is quiet then)

from mlsys_assets.lazy_imports import load
from mlsys_assets.model_contract import FEATURE_SPEC_ARTIFACT, FeatureSpec

if TYPE_CHECKING:
    import xgboost as xgb

    from mlsys_assets.scoring.predictor import ModelBundle

BOOSTER_ARTIFACT = "booster.ubj"
ARTIFACTS_DIR = "artifacts"
SMALL_FRAME_ROWS = 64


class FlightDelayModel(mlflow.pyfunc.PythonModel):
    """Delay probabilities for a frame of flights' features (columns as in the signature)."""

    def __init__(self) -> None:
        self.bundle: ModelBundle | None = None

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        booster, spec = _read(
            Path(context.artifacts["booster"]), Path(context.artifacts["feature_spec"])
        )
        from mlsys_assets.scoring.predictor import ModelBundle

        self.bundle = ModelBundle(name="pyfunc", version="", booster=booster, spec=spec)

    def predict(
        self,
        context: mlflow.pyfunc.PythonModelContext,  # noqa: ARG002 - the pyfunc protocol
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,  # noqa: ARG002
    ) -> np.ndarray:
        if self.bundle is None:
            raise RuntimeError("the model was not loaded (load_context was not called)")
        bundle = self.bundle
        if len(model_input) <= SMALL_FRAME_ROWS:  # a request's few rows: no per-column pandas
            matrix = bundle.encode_rows(model_input.to_dict("records"))
        else:
            matrix = bundle.encode_frame(model_input)
        return np.clip(bundle.predict_matrix(matrix), 0.0, 1.0)


def artifacts_for(folder: Path, booster: xgb.Booster, spec: FeatureSpec) -> dict[str, str]:
    """Write the booster and the spec into ``folder``: the ``artifacts`` of ``log_model``."""
    booster_file = folder / BOOSTER_ARTIFACT
    booster.save_model(str(booster_file))
    spec_file = folder / FEATURE_SPEC_ARTIFACT
    spec_file.write_text(spec.to_json())
    return {"booster": str(booster_file), "feature_spec": str(spec_file)}


def load_native(model_dir: Path) -> tuple[xgb.Booster, FeatureSpec]:
    """The native booster and spec from a downloaded model folder (no pyfunc, no pickle)."""
    artifacts = model_dir / ARTIFACTS_DIR
    return _read(artifacts / BOOSTER_ARTIFACT, artifacts / FEATURE_SPEC_ARTIFACT)


def load_native_uri(model_uri: str) -> tuple[xgb.Booster, FeatureSpec]:
    """``load_native`` for a model URI (``models:/``, ``runs:/``), downloaded to a temp dir."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="mlsys-model-") as tmp:
        folder = mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=tmp)
        return load_native(Path(folder))


def _read(booster_file: Path, spec_file: Path) -> tuple[xgb.Booster, FeatureSpec]:
    booster = load("xgboost").Booster()
    booster.load_model(str(booster_file))
    return booster, FeatureSpec.from_json(spec_file.read_text())
