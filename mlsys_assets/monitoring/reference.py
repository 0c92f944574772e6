"""The reference every daily signal is judged against: the champion's training data.

The champion's lineage tags give its training window (and its held-out test window); a sample of
those flights, with point-in-time features from the feature store and the champion's scores, is
the drift reference, and whole reference days calibrate the drift thresholds. Without a champion,
``monitoring_reference_window`` pins a window instead (no scores then). The sample is built once
per champion version and cached in ``monitoring.reference_sample`` (and in process).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pandas as pd

from mlsys_assets.features import FLIGHTS_V1, build_training_set, entity_rows_for_flights
from mlsys_assets.features.catalog import SERVED
from mlsys_assets.model_contract import ALIAS_CHAMPION, TAG_TEST_WINDOW
from mlsys_assets.monitoring.scores import calibrated_thresholds
from mlsys_assets.monitoring.store import SCHEMA
from mlsys_assets.settings import Settings
from mlsys_assets.training.labels import labels, outcomes

if TYPE_CHECKING:
    from mlsys_assets.scoring.predictor import ModelBundle

TAG_TRAIN_WINDOW = "train_window"
SCORE = "score"  # the model's delay probability, as a column
LABEL = "label"
TRAIN, TEST = "train", "test"
KEY = ["flight_date", "carrier", "flight", "origin"]
SAMPLE_TABLE = f"{SCHEMA}.reference_sample"
META_TABLE = f"{SCHEMA}.reference_meta"


def parse_window(text: str) -> tuple[dt.date, dt.date]:
    start, end = text.split("/")
    return dt.date.fromisoformat(start.strip()), dt.date.fromisoformat(end.strip())


@dataclass(frozen=True)
class ModelRef:
    """The model monitored: its version, windows, threshold and training categories."""

    version: str | None
    train_window: tuple[dt.date, dt.date]
    test_window: tuple[dt.date, dt.date] | None = None
    threshold: float = 0.5
    categories: dict[str, list[str]] = field(default_factory=dict)

    @property
    def reference_id(self) -> str:
        start, end = self.train_window
        who = f"v{self.version}" if self.version else "window"
        return f"{who}:{start.isoformat()}/{end.isoformat()}"


@dataclass
class Reference:
    """Reference rows (features, score, label; ``part`` train or test) and drift thresholds."""

    model: ModelRef
    frame: pd.DataFrame
    thresholds: dict[str, float]
    seen: dict[str, list[str]] = field(default_factory=dict)  # categories of the whole window
    bundle: ModelBundle | None = None

    @property
    def reference_id(self) -> str:
        return self.model.reference_id

    @property
    def train(self) -> pd.DataFrame:
        return self.frame[self.frame["part"] == TRAIN]

    @property
    def test(self) -> pd.DataFrame:
        part = self.frame[self.frame["part"] == TEST]
        return part if len(part) else self.train

    def categories(self, column: str) -> set[str]:
        """Values of a categorical feature seen in training (the spec's, else the window's)."""
        if column in self.model.categories:
            return set(self.model.categories[column])
        return set(self.seen.get(column, []))


@lru_cache(maxsize=4)
def _bundle(tracking_uri: str, model_name: str, version: str) -> ModelBundle:
    from mlsys_assets.scoring.loading import RegistryReader

    return RegistryReader(tracking_uri, model_name).load(version)


def champion(settings: Settings) -> tuple[ModelRef, ModelBundle] | None:
    """The champion's reference description and loaded model, None when there is no champion."""
    # Imported here: loading a model needs MLflow and XGBoost, which the code location must not.
    from mlsys_assets.scoring.loading import RegistryReader

    reader = RegistryReader(settings.tracking_uri, settings.registry.model_name)
    version = reader.alias_version(ALIAS_CHAMPION)
    if version is None:
        return None
    tags = dict(reader.client.get_model_version(settings.registry.model_name, version).tags)
    if TAG_TRAIN_WINDOW not in tags:
        return None
    bundle = _bundle(settings.tracking_uri, settings.registry.model_name, version)
    test = tags.get(TAG_TEST_WINDOW)
    ref = ModelRef(
        version=version,
        train_window=parse_window(tags[TAG_TRAIN_WINDOW]),
        test_window=parse_window(test) if test else None,
        threshold=bundle.threshold,
        categories=dict(bundle.spec.categories),
    )
    return ref, bundle


def resolve(settings: Settings) -> tuple[ModelRef, ModelBundle | None] | None:
    """The champion, else the pinned window of settings, else None (nothing to compare with)."""
    found = champion(settings)
    if found is not None:
        return found
    if settings.monitoring.reference_window:
        return ModelRef(None, parse_window(settings.monitoring.reference_window)), None
    return None


def feature_columns() -> tuple[list[str], list[str]]:
    """The monitored features and the categorical ones among them."""
    return list(FLIGHTS_V1.feature_names), list(FLIGHTS_V1.categorical_features)


def day_features(conn: duckdb.DuckDBPyConnection, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Point-in-time features of every flight of local days ``start..end`` (with outcomes)."""
    return build_training_set(conn, entity_rows_for_flights(conn, start, end), service=SERVED)


def add_labels(frame: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """``label`` column: 1 delayed, 0 on time, NaN excluded (the training label rules)."""
    outcome = outcomes(frame["arr_delay"], frame["cancelled"])
    return frame.assign(**{LABEL: labels(outcome, settings.training.cancelled_policy).to_numpy()})


def window_categories(
    conn: duckdb.DuckDBPyConnection, window: tuple[dt.date, dt.date]
) -> dict[str, list[str]]:
    """Every value of the categorical features over a whole window (a sample would miss rare ones)."""
    flights = "FROM raw.flights WHERE flight_date BETWEEN ? AND ?"
    out = {
        column: [
            r[0]
            for r in conn.execute(f"SELECT DISTINCT {column} {flights}", list(window)).fetchall()
        ]
        for column in ("carrier", "origin", "dest")
    }
    out["plane_manufacturer"] = [
        r[0]
        for r in conn.execute(
            f"SELECT DISTINCT manufacturer FROM raw.planes WHERE manufacturer IS NOT NULL AND "
            f"tailnum IN (SELECT tailnum {flights})",
            list(window),
        ).fetchall()
    ]
    return out


def _sample_rows(
    conn: duckdb.DuckDBPyConnection, window: tuple[dt.date, dt.date], rows: int, seed: int
) -> pd.DataFrame:
    entities = entity_rows_for_flights(conn, window[0], window[1])
    if len(entities) > rows:
        entities = entities.sample(rows, random_state=seed).sort_index()
    return build_training_set(conn, entities.reset_index(drop=True))


def _calibration_days(
    conn: duckdb.DuckDBPyConnection, window: tuple[dt.date, dt.date], count: int
) -> list[pd.DataFrame]:
    days = [
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT flight_date FROM raw.flights WHERE flight_date BETWEEN ? AND ? "
            "ORDER BY 1",
            list(window),
        ).fetchall()
    ]
    if not days:
        return []
    picks = sorted({days[int(i)] for i in np.linspace(0, len(days) - 1, min(count, len(days)))})
    frame = build_training_set(
        conn,
        pd.concat([entity_rows_for_flights(conn, d, d) for d in picks], ignore_index=True),
    )
    dates = pd.to_datetime(frame["flight_date"]).dt.date
    return [frame[dates == d] for d in picks]


def build_reference(
    conn: duckdb.DuckDBPyConnection,
    settings: Settings,
    model: ModelRef,
    bundle: ModelBundle | None = None,
) -> Reference:
    """Sample the reference, score it, and calibrate the drift thresholds on whole days."""
    names, categorical = feature_columns()
    rows, seed = settings.monitoring.reference_rows, settings.seed
    parts = [_sample_rows(conn, model.train_window, rows, seed).assign(part=TRAIN)]
    if model.test_window is not None:
        parts.append(_sample_rows(conn, model.test_window, rows, seed).assign(part=TEST))
    frame = add_labels(pd.concat(parts, ignore_index=True), settings)
    columns = list(names)
    days = _calibration_days(conn, model.train_window, settings.monitoring.calibration_days)
    if bundle is not None:
        frame[SCORE] = bundle.predict_frame(frame)
        days = [d.assign(**{SCORE: bundle.predict_frame(d)}) for d in days]
        columns.append(SCORE)
    else:
        frame[SCORE] = np.nan
    train = frame[frame["part"] == TRAIN]
    thresholds = calibrated_thresholds(train, days, columns, categorical)
    seen = window_categories(conn, model.train_window)
    return Reference(model, frame, thresholds, seen, bundle)


def _save(conn: duckdb.DuckDBPyConnection, reference: Reference) -> None:
    keep = ["part", *KEY, "arr_delay", "cancelled", LABEL, SCORE, *feature_columns()[0]]
    frame = reference.frame[keep].assign(reference_id=reference.reference_id)
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    conn.execute(f"DROP TABLE IF EXISTS {SAMPLE_TABLE}")
    conn.register("__reference", frame)
    conn.execute(f"CREATE TABLE {SAMPLE_TABLE} AS SELECT * FROM __reference")
    conn.unregister("__reference")
    meta = {"model": reference.model.__dict__, "thresholds": reference.thresholds,
            "seen": reference.seen}  # fmt: skip
    conn.execute(f"CREATE OR REPLACE TABLE {META_TABLE} (reference_id VARCHAR, meta VARCHAR)")
    conn.execute(
        f"INSERT INTO {META_TABLE} VALUES (?, ?)",
        [reference.reference_id, json.dumps(meta, default=str)],
    )


def _load(conn: duckdb.DuckDBPyConnection, model: ModelRef) -> Reference | None:
    try:
        row = conn.execute(
            f"SELECT meta FROM {META_TABLE} WHERE reference_id = ?", [model.reference_id]
        ).fetchone()
    except duckdb.CatalogException:
        return None
    if row is None:
        return None
    frame = conn.execute(f"SELECT * EXCLUDE (reference_id) FROM {SAMPLE_TABLE}").df()
    meta = json.loads(row[0])
    return Reference(model, frame, meta["thresholds"], meta.get("seen", {}))


_MEMO: dict[tuple[str, str], Reference] = {}


def get_reference(
    conn: duckdb.DuckDBPyConnection,
    settings: Settings,
    model: ModelRef,
    bundle: ModelBundle | None = None,
) -> Reference:
    """The reference of ``model``: from memory, else the warehouse cache, else built and cached."""
    key = (str(settings.warehouse_path), model.reference_id)
    if key in _MEMO:
        return _MEMO[key]
    reference = _load(conn, model)
    if reference is None:
        reference = build_reference(conn, settings, model, bundle)
        _save(conn, reference)
    reference.bundle = bundle
    _MEMO[key] = reference
    return reference


def scored(reference: Reference, frame: pd.DataFrame) -> pd.Series:
    """The reference model's scores of ``frame`` (NaN without a model)."""
    if reference.bundle is None:
        return pd.Series(np.nan, index=frame.index)
    return pd.Series(reference.bundle.predict_frame(frame), index=frame.index)
