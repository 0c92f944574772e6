"""The prediction log's contract: what serving writes and monitoring reads, defined once.

Serving (``serving/prediction_log.py``) writes Parquet files under
``<predictions_dir>/log/date=<flight day>/`` and ``<predictions_dir>/feedback/date=<write day>/``
with the Arrow schemas below; monitoring (``monitoring/prediction_log.py``) reads them into
pandas with the dtypes derived from the same schemas. The flight day is the New York local day
of the scheduled departure (the partition key of every other table), and the feature time is
the moment serving looked the features up (``feature_time``): the two rules that let
monitoring compare a logged answer with what training would have seen. docs/architecture.md
("Contracts that cross layers") describes the log as a whole.
"""

from __future__ import annotations

import datetime as dt
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa

from mlsys_assets.features.catalog import SERVED
from mlsys_assets.features.entities import PREDICTION_LEAD

PREDICTION_LOG_DIR = "log"  # <predictions_dir>/log/date=<flight day>/part-*.parquet
FEEDBACK_LOG_DIR = "feedback"  # <predictions_dir>/feedback/date=<write day>/part-*.parquet
WAL_DIR = "wal"  # <predictions_dir>/wal/<log>/: each serving process's write-ahead segments

FEATURE_VALUES = pa.struct(
    [(f.name, pa.string() if f.categorical else pa.float64()) for f in SERVED.features]
)
# explain=true: each feature's TreeSHAP contribution in log-odds (serving/explain.py).
CONTRIBUTIONS = pa.struct([(f.name, pa.float64()) for f in SERVED.features])
PREDICTION_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("logged_at", pa.timestamp("us")),  # naive UTC, wall clock: when it was answered
        ("requested_at", pa.timestamp("us")),  # naive UTC: the request's moment (replay clock)
        ("endpoint", pa.string()),
        ("carrier", pa.string()),
        ("flight", pa.int64()),
        ("tailnum", pa.string()),
        ("origin", pa.string()),
        ("dest", pa.string()),
        ("scheduled_departure", pa.timestamp("us")),  # naive UTC
        ("distance", pa.float64()),
        ("feature_values", FEATURE_VALUES),  # what the model received (null: missing)
        ("missing_features", pa.list_(pa.string())),
        ("model_name", pa.string()),
        ("model_version", pa.string()),
        ("variant", pa.string()),
        ("delay_probability", pa.float64()),
        ("delayed", pa.bool_()),
        ("rule", pa.string()),
        ("threshold", pa.float64()),
        ("fallbacks", pa.list_(pa.string())),
        ("latency_ms", pa.float64()),
        ("contributions", CONTRIBUTIONS),  # null unless the answer was explained
        ("contribution_bias", pa.float64()),  # with the contributions: the margin
    ]
)
FEEDBACK_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("logged_at", pa.timestamp("us")),
        ("arr_delay", pa.float64()),
        ("cancelled", pa.bool_()),
    ]
)
# Logs written before ``feature_values`` carried the same values as JSON text in ``features``.
LEGACY_PREDICTION_FIELDS = {"features": "feature_values"}  # legacy column -> the one after it


def pandas_dtype(kind: pa.DataType) -> str:
    """The pandas dtype a reader gives an Arrow column (nullable where pandas needs it)."""
    if pa.types.is_timestamp(kind):
        return f"datetime64[{kind.unit}]"
    if pa.types.is_integer(kind):
        return "Int64"
    if pa.types.is_floating(kind):
        return "float64"
    if pa.types.is_boolean(kind):
        return "boolean"
    return "object"  # strings, structs (a dict per record), lists


def pandas_columns(schema: pa.Schema, legacy: dict[str, str] | None = None) -> dict[str, str]:
    """Column -> pandas dtype for ``schema``, each legacy column (JSON text) after its successor."""
    columns: dict[str, str] = {}
    after = {new: old for old, new in (legacy or {}).items()}
    for field in schema:
        columns[field.name] = pandas_dtype(field.type)
        if field.name in after:
            columns[after[field.name]] = "object"
    return columns


PREDICTION_COLUMNS = pandas_columns(PREDICTION_SCHEMA, LEGACY_PREDICTION_FIELDS)
FEEDBACK_COLUMNS = pandas_columns(FEEDBACK_SCHEMA)

T = TypeVar("T", dt.datetime, pd.Series)


def feature_time(scheduled_departure: T, requested_at: T) -> T:
    """When serving looks a flight's features up: the request's moment, but never later than
    training's prediction time (``scheduled_departure - PREDICTION_LEAD``).

    A request made early uses what is known then; a replayed (past) flight gets exactly the
    features training saw. Works on one moment (serving) and on columns (monitoring).
    """
    lead = scheduled_departure - PREDICTION_LEAD
    if isinstance(lead, pd.Series):
        return np.minimum(requested_at, lead)
    return min(requested_at, lead)
