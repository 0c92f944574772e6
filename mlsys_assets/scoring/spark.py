"""Batch scoring on Spark: the registered pyfunc as ``mlflow.pyfunc.spark_udf`` over a day's features.

The DuckDB path scores in-process with ``ModelBundle.predict_frame``; this one hands the same
feature frame (as the signature states it, ``FeatureSpec.to_input_frame``) to Spark and scores it
with the registered version's pyfunc (``models:/<name>/<version>``), so both engines run the same
booster on the same inputs and ``scores_frame`` turns either's probabilities into the same rows.

``pyspark`` is an optional extra (``mlsys[spark]``) and is only imported here, inside functions:
the default engine never loads it. The session is built once per process: local mode in tests and
on one machine, a cluster's master URL (``MLSYS_SERVING__SPARK_MASTER``) in production, where the workers
need the mlsys wheel installed (the pyfunc class is pickled by reference).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

import mlflow.pyfunc
import numpy as np
import pandas as pd

from mlsys_assets.scoring.batch import flight_features, scores_frame
from mlsys_assets.scoring.loading import fluent_uri
from mlsys_assets.scoring.predictor import ModelBundle
from mlsys_assets.scoring.rules import BusinessRule

if TYPE_CHECKING:
    import duckdb
    from pyspark.sql import SparkSession

APP_NAME = "mlsys-batch-scoring"
ROW_ID = "__mlsys_row"
PROBABILITY = "__mlsys_probability"
ROWS_PER_PARTITION = 50_000

_SESSION_LOCK = threading.Lock()
_sessions: dict[str, SparkSession] = {}


def spark_session(master: str) -> SparkSession:
    """The process's SparkSession for ``master``, built on first use (quiet, small, Arrow on)."""
    with _SESSION_LOCK:
        session = _sessions.get(master)
        if session is not None and session.sparkContext._jsc is not None:
            return session
        try:
            from pyspark.sql import SparkSession
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError(
                "MLSYS_SERVING__BATCH_ENGINE=spark needs pyspark: pip install 'mlsys[spark]'"
            ) from exc
        local = master.startswith("local")
        if local:  # the Python workers run this interpreter (the venv with mlsys); pyspark
            # reads the variable, not spark.pyspark.python, for the workers' executable
            os.environ["PYSPARK_PYTHON"] = os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
        builder = (
            SparkSession.builder.master(master)
            .appName(APP_NAME)
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "2")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.sql.execution.arrow.pyspark.fallback.enabled", "false")
        )
        if local:
            builder = builder.config("spark.driver.host", "127.0.0.1").config(
                "spark.driver.bindAddress", "127.0.0.1"
            )
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("ERROR")
        _sessions[master] = session
        return session


def stop_spark() -> None:
    """Stop the sessions this module started (tests; a long-lived process at shutdown)."""
    with _SESSION_LOCK:
        for session in _sessions.values():
            session.stop()
        _sessions.clear()


def spark_probabilities(
    features: pd.DataFrame, bundle: ModelBundle, tracking_uri: str, master: str
) -> np.ndarray:
    """Delay probabilities of ``features`` (row order kept) by the registered pyfunc on Spark."""
    if features.empty:
        return np.empty(0, dtype="float64")
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    spark = spark_session(master)
    inputs = bundle.spec.to_input_frame(features).reset_index(drop=True)
    inputs.insert(0, ROW_ID, np.arange(len(inputs), dtype="int64"))
    # An explicit schema: an all-null column would otherwise have no type.
    schema = T.StructType(
        [T.StructField(ROW_ID, T.LongType(), nullable=False)]
        + [
            T.StructField(
                name,
                T.StringType() if name in bundle.spec.categories else T.DoubleType(),
                nullable=True,
            )
            for name in bundle.spec.feature_names
        ]
    )
    # Each partition costs a Python worker that imports mlflow, xgboost and mlsys (seconds): a
    # day of flights is one partition; only large frames are spread over the workers.
    partitions = max(1, math.ceil(len(inputs) / ROWS_PER_PARTITION))
    frame = spark.createDataFrame(inputs, schema=schema).coalesce(partitions)
    with fluent_uri(tracking_uri):  # models:/ resolves via the fluent URIs
        udf = mlflow.pyfunc.spark_udf(
            spark,
            f"models:/{bundle.name}/{bundle.version}",
            result_type="double",
            env_manager="local",
        )
    # Columns in signature order: spark_udf names unnamed arguments after the signature.
    scored = frame.select(
        ROW_ID, udf(*[F.col(name) for name in bundle.spec.feature_names]).alias(PROBABILITY)
    ).toPandas()
    scored = scored.sort_values(ROW_ID)
    if len(scored) != len(features) or not np.array_equal(
        scored[ROW_ID].to_numpy(), np.arange(len(features))
    ):
        raise RuntimeError(f"Spark returned {len(scored)} scores for {len(features)} flights")
    return np.clip(scored[PROBABILITY].to_numpy(dtype="float64"), 0.0, 1.0)


def score_flights_on_spark(
    conn: duckdb.DuckDBPyConnection,
    bundle: ModelBundle,
    day: dt.date,
    rules: Sequence[BusinessRule] = (),
    *,
    tracking_uri: str,
    master: str,
) -> pd.DataFrame:
    """``batch.score_flights`` with the probabilities computed on Spark (same rows, same shape)."""
    features = flight_features(conn, day)
    probabilities = spark_probabilities(features, bundle, tracking_uri, master)
    return scores_frame(features, bundle, probabilities, rules)
