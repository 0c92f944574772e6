"""Registration refuses a model whose signature is missing or does not carry the spec losslessly."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from mlflow.models import infer_signature

from mlsys_assets.model_contract import FeatureSpec
from mlsys_assets.registry.registration import SignatureError, register
from mlsys_assets.resources.tracking import Tracking
from mlsys_assets.training.model_log import LoggedModel

SPEC = FeatureSpec("flights_v1", ["carrier", "distance", "dep_hour"], {"carrier": ["AA", "B6"]})


def _log(tracking: Tracking, frame: pd.DataFrame, *, with_signature: bool) -> LoggedModel:
    model_frame = SPEC.to_model_frame(frame)
    booster = xgb.train(
        {"nthread": 1, "max_depth": 2},
        xgb.DMatrix(model_frame, label=np.array([0, 1, 0, 1]), enable_categorical=True),
        2,
    )
    signature = infer_signature(frame, np.zeros(len(frame))) if with_signature else None
    with tracking.activated(), mlflow.start_run(experiment_id=tracking.experiment_id()) as run:
        info = mlflow.xgboost.log_model(
            booster, name="model", signature=signature, pip_requirements=["xgboost"]
        )
    return LoggedModel(run.info.run_id, info.model_uri, info.model_id)


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "carrier": ["AA", "B6", "AA", None],
            "distance": [100.0, 200.0, None, 50.0],
            "dep_hour": pd.array([5, 6, None, 8], dtype="Int64"),
        }
    )


@pytest.mark.parametrize("case", ["nullable_int", "missing_column", "no_signature"])
def test_lossy_or_missing_signatures_are_refused(tracking_settings, case) -> None:
    tracking = Tracking.from_settings(tracking_settings)
    frame = _frame()
    if case == "missing_column":
        frame = frame.drop(columns=["distance"])
    logged = _log(tracking, frame, with_signature=case != "no_signature")
    with pytest.raises(SignatureError):
        register(tracking, logged, SPEC, {})
    assert (
        tracking.client().search_model_versions(f"name = '{tracking_settings.registry.model_name}'")
        == []
    )


def test_the_spec_input_frame_registers(tracking_settings) -> None:
    tracking = Tracking.from_settings(tracking_settings)
    logged = _log(tracking, SPEC.to_input_frame(_frame()), with_signature=True)
    assert register(tracking, logged, SPEC, {}).version == "1"
