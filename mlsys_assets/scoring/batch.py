"""Scoring a day's flights offline, with the same feature and prediction code as serving.

Features come from the feature store's point-in-time join at each flight's prediction time
(``scheduled_departure - PREDICTION_LEAD``), exactly what the online lookup returns for that
flight at that time; the booster input, threshold and business rules are ``ModelBundle`` and
``decide``, as online.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import duckdb
import numpy as np
import pandas as pd

from mlsys_assets.clock import utc_now
from mlsys_assets.features import build_training_set, entity_rows_for_flights
from mlsys_assets.features.catalog import SERVED
from mlsys_assets.resources.warehouse import transaction
from mlsys_assets.scoring import TABLE
from mlsys_assets.scoring.predictor import ModelBundle
from mlsys_assets.scoring.rules import BusinessRule, decide

DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    partition_date DATE NOT NULL,        -- the Dagster partition (day D)
    flight_date DATE NOT NULL,           -- the day scored (D + 1), New York local
    carrier VARCHAR NOT NULL,
    flight INTEGER NOT NULL,
    origin VARCHAR NOT NULL,
    dest VARCHAR NOT NULL,
    tailnum VARCHAR,
    scheduled_departure TIMESTAMP NOT NULL,  -- naive UTC
    feature_time TIMESTAMP NOT NULL,         -- features known strictly before this
    delay_probability DOUBLE NOT NULL,
    delayed BOOLEAN NOT NULL,
    rule VARCHAR NOT NULL,
    threshold DOUBLE NOT NULL,
    model_name VARCHAR NOT NULL,
    model_version VARCHAR NOT NULL,
    feature_service VARCHAR NOT NULL,
    missing_features VARCHAR[] NOT NULL,
    scored_at TIMESTAMP NOT NULL
)"""
KEY_COLUMNS = ["flight_date", "carrier", "flight", "origin"]


def flight_features(conn: duckdb.DuckDBPyConnection, day: dt.date) -> pd.DataFrame:
    """Every flight of local day ``day`` with its features at its prediction time."""
    entities = entity_rows_for_flights(conn, day, day).drop(columns=["arr_delay", "cancelled"])
    return build_training_set(conn, entities, service=SERVED)


def score_flights(
    conn: duckdb.DuckDBPyConnection,
    bundle: ModelBundle,
    day: dt.date,
    rules: Sequence[BusinessRule] = (),
) -> pd.DataFrame:
    """Every flight of local day ``day`` scored by ``bundle`` (one row per flight)."""
    features = flight_features(conn, day)
    return scores_frame(features, bundle, np.clip(bundle.predict_frame(features), 0.0, 1.0), rules)


def scores_frame(
    features: pd.DataFrame,
    bundle: ModelBundle,
    probabilities: np.ndarray,
    rules: Sequence[BusinessRule] = (),
) -> pd.DataFrame:
    """The ``serving.batch_scores`` rows for flights and their probabilities (rules applied)."""
    decisions = [
        decide(float(p), bundle.threshold, {"carrier": c, "origin": o, "dest": d}, rules)
        for p, c, o, d in zip(
            probabilities, features["carrier"], features["origin"], features["dest"], strict=True
        )
    ]
    names = [n for n in bundle.feature_names if n in features]
    nulls = features[names].isna().to_numpy()
    out = features[[*KEY_COLUMNS, "dest", "tailnum", "scheduled_departure"]].copy()
    out["feature_time"] = features["event_timestamp"]
    out["delay_probability"] = probabilities
    out["delayed"] = [delayed for delayed, _ in decisions]
    out["rule"] = [rule for _, rule in decisions]
    out["threshold"] = bundle.threshold
    out["model_name"] = bundle.name
    out["model_version"] = bundle.version
    out["feature_service"] = bundle.spec.feature_service
    out["missing_features"] = [
        [n for n, null in zip(names, row, strict=True) if null] for row in nulls
    ]
    return out.reset_index(drop=True)


def write_scores(
    conn: duckdb.DuckDBPyConnection, partition_date: dt.date, scores: pd.DataFrame
) -> int:
    """Replace the partition's rows of ``serving.batch_scores`` (atomically)."""
    conn.execute("CREATE SCHEMA IF NOT EXISTS serving")
    conn.execute(DDL)
    frame = scores.assign(
        partition_date=partition_date,
        scored_at=utc_now(),
    )
    with transaction(conn):
        conn.execute(f"DELETE FROM {TABLE} WHERE partition_date = ?", [partition_date])
        conn.register("_scores", frame)
        conn.execute(f"INSERT INTO {TABLE} BY NAME SELECT * FROM _scores")
        conn.unregister("_scores")
    return len(frame)
