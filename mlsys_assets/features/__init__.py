"""The feature store: declarative definitions, offline tables, training sets, online serving.

Public API (other layers code against these names):
``FLIGHTS_V1``, ``entity_rows_for_flights``, ``build_training_set``, ``request_features``,
``lookup_online_features`` (and ``lookup_online_features_batch``, ``OnlineFeatures``;
``lookup_online_feature_columns``, ``OnlineFeatureColumns`` for a batch column by column).
"""

from __future__ import annotations

import dagster as dg

from mlsys_assets.features.catalog import FEATURE_VIEWS, FLIGHTS_V1
from mlsys_assets.features.entities import PREDICTION_LEAD, entity_rows_for_flights
from mlsys_assets.features.online import (
    OnlineFeatureColumns,
    OnlineFeatures,
    lookup_online_feature_columns,
    lookup_online_features,
    lookup_online_features_batch,
    materialize_online,
)
from mlsys_assets.features.request import request_features
from mlsys_assets.features.training_set import build_training_set

__all__ = [
    "FEATURE_VIEWS",
    "FLIGHTS_V1",
    "PREDICTION_LEAD",
    "OnlineFeatureColumns",
    "OnlineFeatures",
    "build_defs",
    "build_training_set",
    "entity_rows_for_flights",
    "lookup_online_feature_columns",
    "lookup_online_features",
    "lookup_online_features_batch",
    "materialize_online",
    "request_features",
]


def build_defs() -> dg.Definitions:
    """The feature layer's assets and checks (resources: ``warehouse``, ``online_store``)."""
    from mlsys_assets.features.assets import FEATURE_TABLE_ASSETS, online_features
    from mlsys_assets.features.checks import build_checks

    return dg.Definitions(
        assets=[*FEATURE_TABLE_ASSETS, online_features],
        asset_checks=build_checks(),
    )
