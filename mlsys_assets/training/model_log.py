"""Log a trained model and its whole lineage as one MLflow run.

The model goes in as ``FlightDelayModel``, a pyfunc around the native booster that scores the
signature's frame (categoricals as strings, numerics float64) with serving's own code, so
``mlflow models serve`` and ``spark_udf`` score it as mlsys does; the booster and
``feature_spec.json`` are its artifacts. ``feature_spec.json`` and ``baseline.json`` also go with
the run, and ``baseline.json`` beside the model, so whoever holds the model URI holds the
contract files.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import xgboost as xgb
from mlflow.models import infer_signature

from mlsys_assets.model_contract import (
    BASELINE_ARTIFACT,
    FEATURE_SPEC_ARTIFACT,
    MODEL_ARTIFACT_PATH,
    TAG_FEATURE_SERVICE,
    TAG_TEST_WINDOW,
    TAG_THRESHOLD,
)
from mlsys_assets.resources.tracking import Tracking
from mlsys_assets.scoring.pyfunc_model import FlightDelayModel, artifacts_for
from mlsys_assets.training.dataset import TrainingSet
from mlsys_assets.training.evaluate import Evaluation
from mlsys_assets.training.lineage import environment, git_commit
from mlsys_assets.training.search import SearchResult
from mlsys_assets.training.splits import TRAIN

TAG_DIGEST = "training_set_digest"
INPUT_EXAMPLE_ROWS = 5


@dataclass(frozen=True)
class LoggedModel:
    """A logged (not yet registered) model: where it is and which run describes it."""

    run_id: str
    model_uri: str
    model_id: str | None

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> LoggedModel:
        """The model a training asset's record names (``trained_model``, ``model_evaluation``)."""
        return cls(record["run_id"], record["model_uri"], record["model_id"])


def data_tags(training_set: TrainingSet) -> dict[str, str]:
    """Where the model's data came from: windows, row counts, digest, feature set, commit."""
    s = training_set.summary
    return {
        TAG_DIGEST: training_set.digest,
        TAG_FEATURE_SERVICE: training_set.spec.feature_service,
        "train_window": s["train_window"],
        "validation_window": s["validation_window"],
        TAG_TEST_WINDOW: s["test_window"],
        "gap_days": str(s["gap_days"]),
        "rows_train": str(s["rows_train"]),
        "rows_validation": str(s["rows_validation"]),
        "rows_test": str(s["rows_test"]),
        "git_commit": git_commit(),
    }


def evaluation_tags(evaluation: Evaluation) -> dict[str, str]:
    """The decision threshold (read by serving) and the goal it was chosen for."""
    return {
        TAG_THRESHOLD: f"{evaluation.threshold:.6f}",
        "threshold_rule": evaluation.threshold_rule,
        "threshold_goal": evaluation.threshold_goal,
        "test_roc_auc": f"{evaluation.metrics['test_roc_auc']:.6f}",
        "baseline_roc_auc": f"{evaluation.metrics['baseline_carrier_hour_roc_auc']:.6f}",
    }


def pip_requirements() -> list[str]:
    """Pinned from the running environment (inferring them would re-import the model: slow)."""
    env = environment()
    return [
        f"{name}=={env[name]}"
        for name in ("xgboost", "pandas", "numpy", "scikit-learn")
        if env[name] != "absent"
    ]


def _flat_params(params: dict[str, Any]) -> dict[str, str]:
    return {k: ",".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in params.items()}


def log_model(
    tracking: Tracking,
    training_set: TrainingSet,
    search: SearchResult | None,
    booster: xgb.Booster,
    *,
    params: dict[str, Any],
    run_name: str | None = None,
) -> LoggedModel:
    """Start the model's run: data lineage, parameters, search history, the model and its spec."""
    spec = training_set.spec
    example_rows = training_set.part(TRAIN).head(INPUT_EXAMPLE_ROWS)
    example = spec.to_input_frame(example_rows).reset_index(drop=True)
    predictions = booster.predict(
        xgb.DMatrix(spec.to_model_frame(example), enable_categorical=True)
    )
    signature = infer_signature(example, np.asarray(predictions, dtype="float64"))
    env = environment()
    with tracking.activated(), tempfile.TemporaryDirectory() as tmp:
        with mlflow.start_run(experiment_id=tracking.experiment_id(), run_name=run_name) as run:
            mlflow.set_tags({**data_tags(training_set), **{f"env.{k}": v for k, v in env.items()}})
            mlflow.log_params(_flat_params(params))
            mlflow.log_params(
                {k: str(v) for k, v in training_set.summary.items() if k != "digest"}
                | {"feature_names": ",".join(spec.feature_names)}
            )
            mlflow.log_metrics(
                {k: float(v) for k, v in training_set.summary.items() if k.startswith("rows_")}
            )
            mlflow.log_dict(training_set.summary, "lineage/training_set.json")
            mlflow.log_dict(env, "lineage/environment.json")
            if search is not None:
                mlflow.log_metrics({k: float(v) for k, v in search.summary().items()})
                mlflow.log_text(_history_csv(search.history), "search/trials.csv")
            spec_file = Path(tmp) / FEATURE_SPEC_ARTIFACT
            spec_file.write_text(spec.to_json())
            mlflow.log_artifact(str(spec_file))
            model_files = Path(tmp) / "model_files"
            model_files.mkdir()
            info = mlflow.pyfunc.log_model(
                name=MODEL_ARTIFACT_PATH,
                python_model=FlightDelayModel(),
                artifacts=artifacts_for(model_files, booster, spec),
                signature=signature,
                input_example=example,
                pip_requirements=pip_requirements(),
            )
    return LoggedModel(run_id=run.info.run_id, model_uri=info.model_uri, model_id=info.model_id)


def log_evaluation(tracking: Tracking, logged: LoggedModel, evaluation: Evaluation) -> None:
    """Add the evaluation to the model's run: metrics, tables, plots, threshold, baseline.json."""
    with tracking.activated(), tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with mlflow.start_run(run_id=logged.run_id):
            mlflow.set_tags(evaluation_tags(evaluation))
            mlflow.log_metrics({k: float(v) for k, v in evaluation.metrics.items()})
            mlflow.log_dict(
                {
                    "goal": evaluation.threshold_goal,
                    "rule": evaluation.threshold_rule,
                    "threshold": evaluation.threshold,
                },
                "evaluation/threshold.json",
            )
            for name, table in (
                ("segments", evaluation.segments),
                ("calibration", evaluation.calibration),
                ("drift", evaluation.drift),
            ):
                mlflow.log_text(table.to_csv(index=False), f"evaluation/{name}.csv")
            plots = folder / "plots"
            plots.mkdir()
            for name, png in evaluation.plots.items():
                (plots / name).write_bytes(png)
            mlflow.log_artifacts(str(plots), "plots")
            baseline_file = folder / BASELINE_ARTIFACT
            baseline_file.write_text(evaluation.baseline.to_json())
            mlflow.log_artifact(str(baseline_file))
            if logged.model_id:
                tracking.client().log_model_artifact(logged.model_id, str(baseline_file))


def _history_csv(history: pd.DataFrame) -> str:
    frame = history.copy()
    for column in frame.columns:
        if pd.api.types.is_timedelta64_dtype(frame[column]):
            frame[column] = frame[column].dt.total_seconds()
    return frame.to_csv(index=False)


def read_json_artifact(tracking: Tracking, run_id: str, name: str) -> dict[str, Any]:
    """A JSON artifact of a run (the contract files, lineage)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = tracking.client().download_artifacts(run_id, name, tmp)
        return json.loads(Path(path).read_text())
