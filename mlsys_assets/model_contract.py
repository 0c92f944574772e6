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
