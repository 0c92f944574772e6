"""Dataset selection: which flights train, validate and test a model, with which labels.

Features come from the feature store's point-in-time training set; this module adds the label,
the split, the sampling weights and a digest that names the exact rows a model saw.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

import duckdb
import numpy as np
import pandas as pd

from mlsys_assets.features import FLIGHTS_V1, build_training_set, entity_rows_for_flights
from mlsys_assets.features.spec import FeatureService
from mlsys_assets.model_contract import FeatureSpec
from mlsys_assets.training.labels import CancelledPolicy, labels, outcomes
from mlsys_assets.training.splits import TEST, TRAIN, VALIDATION, DateWindow, SplitWindows

Sampling = Literal["none", "downsample"]
KEY_COLUMNS = ["flight_date", "carrier", "flight", "origin"]
TABLE = "training.flight_delay_training_set"
META_TABLE = "training.flight_delay_training_set_meta"


@dataclass(frozen=True)
class SamplingPlan:
    """How the training split is sampled (validation and test are never sampled)."""

    strategy: Sampling = "none"
    negative_rate: float = 1.0
    seed: int = 42

    def as_dict(self) -> dict[str, str]:
        return {
            "sampling": self.strategy,
            "sampling_negative_rate": str(self.negative_rate),
            "sampling_seed": str(self.seed),
        }


@dataclass
class TrainingSet:
    """Labelled, split rows with their features, and what it takes to reproduce them."""

    frame: pd.DataFrame
    spec: FeatureSpec
    windows: SplitWindows
    summary: dict[str, Any] = field(default_factory=dict)

    def part(self, split: str) -> pd.DataFrame:
        return self.frame[self.frame["split"] == split]

    def model_frame(self, split: str) -> pd.DataFrame:
        return self.spec.to_model_frame(self.part(split))

    def label(self, split: str) -> np.ndarray:
        return self.part(split)["label"].to_numpy(dtype="float64")

    def weight(self, split: str) -> np.ndarray:
        return self.part(split)["weight"].to_numpy(dtype="float64")

    @property
    def digest(self) -> str:
        return str(self.summary["digest"])


def select_training_set(
    conn: duckdb.DuckDBPyConnection,
    windows: SplitWindows,
    *,
    cancelled_policy: CancelledPolicy = "exclude",
    sampling: SamplingPlan = SamplingPlan(),
    as_of: Any = None,
    service: FeatureService = FLIGHTS_V1,
) -> TrainingSet:
    """Build the labelled training set of ``windows`` from the feature store.

    Gap days and excluded outcomes are dropped before features are built (and counted), the
    training split is sampled as planned; the result is sorted, so the same snapshot always
    gives the same rows in the same order and the same digest.
    """
    span = windows.span
    entities = entity_rows_for_flights(conn, span.start, span.end)
    counts: dict[str, Any] = {"entity_rows": len(entities)}
    entities = entities.assign(split=windows.assign(entities["flight_date"]))
    counts["gap_rows"] = int(entities["split"].isna().sum())
    entities = entities[entities["split"].notna()]
    entities = entities.assign(outcome=outcomes(entities["arr_delay"], entities["cancelled"]))
    entities = entities.assign(label=labels(entities["outcome"], cancelled_policy))
    for outcome, n in entities["outcome"].value_counts().items():
        counts[f"outcome_{outcome}"] = int(n)
    counts["excluded_rows"] = int(entities["label"].isna().sum())
    kept = entities[entities["label"].notna()].reset_index(drop=True)

    features = build_training_set(
        conn, kept.drop(columns=["split", "outcome", "label"]), service=service, as_of=as_of
    )
    if len(features) != len(kept):
        raise ValueError(f"feature store returned {len(features)} rows for {len(kept)} entities")
    missing = [name for name in service.feature_names if name not in features.columns]
    if missing:  # the schema a model is trained on is the service's, column for column
        raise ValueError(f"feature store returned no {missing} for {service.name}")
    frame = features.reset_index(drop=True)
    for column in ("split", "outcome", "label"):
        frame[column] = kept[column].to_numpy()
    frame = _sample(frame, sampling)
    frame = frame.sort_values(["flight_date", "scheduled_departure", "carrier", "flight", "origin"])
    frame = frame.reset_index(drop=True)

    spec = feature_spec_for(
        frame,
        service.name,
        list(service.feature_names),
        list(service.categorical_features),
    )
    frame = _canonical(frame, spec)
    summary = {
        **counts,
        **windows.as_dict(),
        **sampling.as_dict(),
        "cancelled_policy": cancelled_policy,
        "feature_service": spec.feature_service,
    }
    training_set = TrainingSet(frame, spec, windows, summary)
    _summarise(training_set)
    return training_set


def feature_spec_for(
    frame: pd.DataFrame, service: str, names: list[str], categorical: list[str]
) -> FeatureSpec:
    """The spec: categories are the values seen in train+validation (unseen become missing)."""
    fit_rows = frame[frame["split"].isin([TRAIN, VALIDATION])]
    categories = {
        name: sorted({str(v) for v in fit_rows[name].dropna().unique()}) for name in categorical
    }
    return FeatureSpec(feature_service=service, feature_names=names, categories=categories)


def training_set_digest(frame: pd.DataFrame, spec: FeatureSpec) -> str:
    """SHA-256 of the keys, features, labels, splits and weights, independent of dtypes."""
    keys = pd.DataFrame(
        {
            "flight_date": pd.to_datetime(frame["flight_date"]).dt.strftime("%Y-%m-%d"),
            "carrier": frame["carrier"].astype(str),
            "flight": pd.to_numeric(frame["flight"]).astype("int64"),
            "origin": frame["origin"].astype(str),
        }
    )
    canonical = pd.concat(
        [
            keys,
            spec.to_input_frame(frame).reset_index(drop=True).set_axis(keys.index),
            frame[["label", "weight"]].astype("float64").set_axis(keys.index),
            frame["split"].astype(str).set_axis(keys.index),
        ],
        axis=1,
    )
    hasher = hashlib.sha256(json.dumps(list(canonical.columns)).encode())
    hasher.update(pd.util.hash_pandas_object(canonical, index=False).to_numpy().tobytes())
    return hasher.hexdigest()


def write_training_set(conn: duckdb.DuckDBPyConnection, training_set: TrainingSet) -> None:
    """Persist the set as the snapshot later steps (and a retrain) read back."""
    conn.execute("CREATE SCHEMA IF NOT EXISTS training")
    frame = training_set.frame.copy()
    frame["flight_date"] = pd.to_datetime(frame["flight_date"])
    conn.register("_training_set", frame)
    conn.execute(f"CREATE OR REPLACE TABLE {TABLE} AS SELECT * FROM _training_set")
    conn.unregister("_training_set")
    meta = {
        "spec": training_set.spec.to_json(),
        "windows": training_set.windows.as_dict(),
        "summary": training_set.summary,
    }
    conn.execute(f"CREATE OR REPLACE TABLE {META_TABLE} (meta VARCHAR)")
    conn.execute(f"INSERT INTO {META_TABLE} VALUES (?)", [json.dumps(meta, default=str)])


def read_training_set(conn: duckdb.DuckDBPyConnection) -> TrainingSet:
    """Read the persisted snapshot back and check it still has the digest it was written with."""
    meta = json.loads(conn.execute(f"SELECT meta FROM {META_TABLE}").fetchone()[0])
    frame = conn.execute(f"SELECT * FROM {TABLE}").df()
    frame["flight_date"] = pd.to_datetime(frame["flight_date"]).dt.date
    spec = FeatureSpec.from_json(meta["spec"])
    w = meta["windows"]
    windows = SplitWindows(
        _window(w["train_window"]),
        _window(w["validation_window"]),
        _window(w["test_window"]),
        int(w["gap_days"]),
    )
    training_set = TrainingSet(_canonical(frame, spec), spec, windows, dict(meta["summary"]))
    digest = training_set_digest(training_set.frame, spec)
    if digest != training_set.summary["digest"]:
        raise ValueError("the stored training set does not match its digest")
    return training_set


def _window(text: str) -> DateWindow:
    start, end = text.split("/")
    return DateWindow(pd.Timestamp(start).date(), pd.Timestamp(end).date())


def _sample(frame: pd.DataFrame, plan: SamplingPlan) -> pd.DataFrame:
    """Downsample the training split's negatives; weights 1/rate keep probabilities calibrated."""
    frame = frame.assign(weight=1.0)
    if plan.strategy == "none" or plan.negative_rate >= 1.0:
        return frame
    rng = np.random.default_rng(plan.seed)
    draw = rng.random(len(frame))
    negative_train = (frame["split"] == TRAIN) & (frame["label"] == 0.0)
    keep = ~negative_train | (draw < plan.negative_rate)
    frame.loc[negative_train, "weight"] = 1.0 / plan.negative_rate
    return frame[keep]


def _canonical(frame: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """Stable dtypes: features as the signature states them, labels and weights float64."""
    frame = frame.copy()
    inputs = spec.to_input_frame(frame)
    for name in spec.feature_names:
        frame[name] = inputs[name]
    frame["label"] = frame["label"].astype("float64")
    frame["weight"] = frame["weight"].astype("float64")
    return frame


def _summarise(training_set: TrainingSet) -> None:
    frame = training_set.frame
    summary = training_set.summary
    for split in (TRAIN, VALIDATION, TEST):
        part = frame[frame["split"] == split]
        summary[f"rows_{split}"] = len(part)
        summary[f"positive_rate_{split}"] = float(part["label"].mean()) if len(part) else 0.0
    summary["rows_total"] = len(frame)
    summary["digest"] = training_set_digest(frame, training_set.spec)
