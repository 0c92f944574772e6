"""What a registered ``flight_delay`` model carries, shared by training (writer) and serving (reader).

A model version is an MLflow XGBoost model plus a ``feature_spec.json`` artifact that says exactly
which columns it expects, which are categorical and with which categories, so that the frame fed to
the booster is built by the same function at training, registration and request time.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

MODEL_ARTIFACT_PATH = "model"
FEATURE_SPEC_ARTIFACT = "feature_spec.json"
BASELINE_ARTIFACT = (
    "baseline.json"  # {"rates": {"<carrier>|<hour>": p}, "carrier": {...}, "global": p}
)

ALIAS_CHAMPION = "champion"
ALIAS_CHALLENGER = "challenger"

TAG_THRESHOLD = "decision_threshold"
TAG_FEATURE_SERVICE = "feature_service"
TAG_GATE = "quality_gate"  # "passed" | "failed", set by the registry's quality gate
TAG_TEST_WINDOW = "test_window"  # "YYYY-MM-DD/YYYY-MM-DD": the window the gate compared on
# The canary's decision on a challenger (registry/aliases.apply_canary_decision writes them).
TAG_CANARY_DECISION = "canary_decision"  # "promote" | "rollback" | "keep"
TAG_CANARY_REASON = "canary_reason"
TAG_CANARY_RUN_ID = "canary_run_id"  # the Dagster run that decided
TAG_CANARY_RULE = "canary_rule"
TAG_CANARY_INTERVAL = "canary_interval"  # the paired verdict's AUC difference interval
TAG_CANARY_N = "canary_n"  # the labelled shadow pairs it used

# The signature's column types: categoricals travel as strings, every numeric as float64
# ("double"), never a nullable integer (MLflow drops or narrows those silently).
SIGNATURE_CATEGORICAL_TYPE = "string"
SIGNATURE_NUMERIC_TYPE = "double"
BASELINE_HOUR_TZ = "America/New_York"  # baseline.json hours are local hours of departure


@dataclass(frozen=True)
class FeatureSpec:
    """The model's input schema: ordered feature names and the categories of categorical ones."""

    feature_service: str
    feature_names: list[str]
    categories: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FeatureSpec:
        data: dict[str, Any] = json.loads(text)
        return cls(**data)

    def to_model_frame(self, features: pd.DataFrame) -> pd.DataFrame:
        """Order columns as trained and encode categoricals with the training categories.

        An unseen category becomes missing (NaN), exactly as XGBoost treats a missing value; a
        missing numeric stays NaN. The same call runs offline and online.
        """
        frame = pd.DataFrame(index=features.index)
        for name in self.feature_names:
            column = features[name] if name in features else pd.Series(None, index=features.index)
            if name in self.categories:
                dtype = pd.CategoricalDtype(self.categories[name])
                frame[name] = column.astype("object").where(column.notna(), None).astype(dtype)
            else:
                frame[name] = pd.to_numeric(column, errors="coerce").astype("float64")
        return frame

    def to_input_frame(self, features: pd.DataFrame) -> pd.DataFrame:
        """The columns as the signature states them: categoricals as strings, numerics float64.

        This is the frame a client-facing schema describes (and the MLflow input example), before
        the categorical encoding of ``to_model_frame``.
        """
        frame = pd.DataFrame(index=features.index)
        for name in self.feature_names:
            column = features[name] if name in features else pd.Series(None, index=features.index)
            if name in self.categories:
                text = column.astype("object").where(column.notna(), None)
                frame[name] = text.map(lambda v: None if v is None else str(v)).astype("object")
            else:
                frame[name] = pd.to_numeric(column, errors="coerce").astype("float64")
        return frame

    def signature_problems(self, inputs: list[tuple[str, str]] | None) -> list[str]:
        """Why a signature's ``(name, type)`` inputs do not carry this spec losslessly (empty: ok)."""
        if not inputs:
            return ["the model has no input signature"]
        problems: list[str] = []
        names = [name for name, _ in inputs]
        if names != self.feature_names:
            missing = [n for n in self.feature_names if n not in names]
            extra = [n for n in names if n not in self.feature_names]
            problems.append(f"signature columns differ: missing={missing} extra={extra}")
        for name, kind in inputs:
            if name not in self.feature_names:
                continue
            want = SIGNATURE_CATEGORICAL_TYPE if name in self.categories else SIGNATURE_NUMERIC_TYPE
            if kind != want:
                problems.append(f"{name}: signature type {kind}, expected {want}")
        return problems


@dataclass(frozen=True)
class Baseline:
    """The historical delay rate per carrier and local departure hour (``baseline.json``).

    Serving's last-resort fallback and the model's yardstick in evaluation: the rate of the
    ``carrier|hour`` cell (smoothed towards the carrier's rate), else the carrier's, else global.
    """

    rates: dict[str, float]
    carrier: dict[str, float]
    global_rate: float

    def to_json(self) -> str:
        return json.dumps(
            {"rates": self.rates, "carrier": self.carrier, "global": self.global_rate},
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> Baseline:
        data: dict[str, Any] = json.loads(text)
        return cls(rates=data["rates"], carrier=data["carrier"], global_rate=data["global"])

    @staticmethod
    def key(carrier: str, hour: int) -> str:
        return f"{carrier}|{int(hour)}"

    def probability(self, carrier: str, hour: int) -> float:
        """The delay probability for a carrier and a local departure hour (0-23)."""
        rate = self.rates.get(self.key(carrier, hour))
        if rate is None:
            rate = self.carrier.get(carrier, self.global_rate)
        return float(rate)


def local_departure_hour(scheduled_departure: pd.Series) -> pd.Series:
    """Local (New York) hour of departure from naive-UTC or tz-aware timestamps."""
    ts = pd.to_datetime(scheduled_departure)
    if ts.dt.tz is None:
        ts = ts.dt.tz_localize("UTC")
    return ts.dt.tz_convert(BASELINE_HOUR_TZ).dt.hour.astype("int64")
