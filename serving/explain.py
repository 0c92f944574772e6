"""Why a flight is predicted late: exact TreeSHAP contributions from the native booster.

Each feature's Shapley value is computed exactly for the tree ensemble (path-dependent TreeSHAP,
the values of XGBoost's ``pred_contribs``), in the model's margin (log-odds) units: a flight's
contributions plus the bias sum to the booster's margin, whose sigmoid is the served
probability. They come from per-leaf tables built once per model (serving/treeshap.py, about
4x less CPU than ``pred_contribs``, whose walk of every path is the cost of an explained answer);
a model those tables do not handle is explained by ``pred_contribs`` itself. An answer carries
the ``top_k`` largest by magnitude with the value the model received, and ``others`` (the sum of
the rest), so the listed contributions + ``others`` + ``bias`` = the margin, always.

Every contribution (not only the top k) is logged with the prediction, one float per feature of
the served service (``contributions``, null when the answer was not explained), so monitoring
can follow the mean |contribution| per feature day by day.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xgboost as xgb

from mlsys_assets.features.catalog import SERVED
from mlsys_assets.scoring.predictor import ModelBundle
from serving import treeshap
from serving.schemas import Contribution, Explanation

LOGGED_FEATURES = [f.name for f in SERVED.features]
_TABLES: weakref.WeakKeyDictionary[xgb.Booster, treeshap.LeafTables | None] = (
    weakref.WeakKeyDictionary()
)
_BUILDING = threading.Lock()  # explained batches run in worker threads: build each model once


def contributions(model: ModelBundle, matrix: np.ndarray) -> np.ndarray:
    """``(rows, features + 1)`` Shapley values of an encoded matrix; the last column is the bias."""
    tables = _tables(model.booster)
    if tables is not None:
        return treeshap.contributions(tables, matrix)
    return booster_contributions(model, matrix)


def cheap(model: ModelBundle) -> bool:
    """Explaining with this model costs about what predicting does: its TreeSHAP tables are
    built."""
    return _TABLES.get(model.booster) is not None


def prepare(model: ModelBundle) -> None:
    """Build the model's tables now (0.15 s) if they are not yet built."""
    _tables(model.booster)


def _tables(booster: xgb.Booster) -> treeshap.LeafTables | None:
    """The model's TreeSHAP tables, built on its first explained answer (0.15 s, 16 MB)."""
    try:
        return _TABLES[booster]
    except KeyError:
        pass
    with _BUILDING:
        if booster not in _TABLES:
            _TABLES[booster] = treeshap.build(booster)
        return _TABLES[booster]


def booster_contributions(model: ModelBundle, matrix: np.ndarray) -> np.ndarray:
    """The same values from XGBoost's own ``pred_contribs`` (the reference, and the fallback)."""
    booster = model.booster
    data = xgb.DMatrix(
        np.ascontiguousarray(matrix, dtype=np.float64),
        missing=np.nan,
        feature_names=booster.feature_names,
        feature_types=booster.feature_types,
        enable_categorical=True,
        nthread=1,
    )
    return np.asarray(booster.predict(data, pred_contribs=True), dtype=np.float64)


def explain_rows(
    models: Sequence[ModelBundle | None],
    columns: Mapping[str, Sequence[Any]],
    top_k: int,
    encoded: Mapping[int, tuple[Sequence[int], np.ndarray]] | None = None,
) -> tuple[list[Explanation | None], dict[str, Any]]:
    """Each flight's explanation (None where no model answered: the baseline has no trees),
    and the log's ``contributions`` struct and ``contribution_bias`` columns.

    ``encoded``: the matrices the models were just scored on (by ``id`` of the model: the rows
    and their matrix), reused when a model answered exactly those rows instead of encoding the
    flights again. Per model the work is column-wise: one argsort of the whole block, one list
    per logged feature (the same values as taking each row apart, which a test pins).
    """
    count = len(models)
    explanations: list[Explanation | None] = [None] * count
    logged: dict[str, list[float | None]] = {name: [None] * count for name in LOGGED_FEATURES}
    bias_column: list[float | None] = [None] * count
    groups: dict[int, list[int]] = {}
    for i, model in enumerate(models):
        if model is not None:
            groups.setdefault(id(model), []).append(i)
    for key, rows in groups.items():
        model = models[rows[0]]
        assert model is not None
        names = model.feature_names
        scored = (encoded or {}).get(key)
        if scored is not None and list(scored[0]) == rows:
            matrix = scored[1]
        else:
            matrix = model.encode_columns(columns, rows)
        found = contributions(model, matrix)
        values = found[:, :-1]
        order = np.argsort(-np.abs(values), axis=1, kind="stable")[:, :top_k]
        others = values.sum(axis=1) - np.take_along_axis(values, order, axis=1).sum(axis=1)
        biases = found[:, -1].tolist()
        for position, (row, top, rest, bias) in enumerate(
            zip(rows, order.tolist(), others.tolist(), biases, strict=True)
        ):
            shap = values[position]
            explanations[row] = Explanation(
                bias=bias,
                others=rest,
                contributions=[
                    Contribution(
                        feature=names[j],
                        value=columns[names[j]][row] if names[j] in columns else None,
                        contribution=float(shap[j]),
                    )
                    for j in top
                ],
            )
            bias_column[row] = bias
        whole = rows == list(range(count))
        for j, name in enumerate(names):
            if name in logged:
                column = values[:, j].tolist()
                if whole:
                    logged[name] = column
                else:
                    target = logged[name]
                    for row, value in zip(rows, column, strict=True):
                        target[row] = value
    return explanations, {"contributions": logged, "contribution_bias": bias_column}
