"""One loaded model version and the prediction code shared by online serving and batch scoring.

Online, a request's feature values go straight into a numpy row (no pandas on the hot path);
offline, a frame is encoded column by column. Both produce exactly the matrix that
``FeatureSpec.to_model_frame`` would give the booster, with categoricals as the category codes
XGBoost saw in training, so the same flight scores the same through either path.
"""

from __future__ import annotations

import ctypes
import json
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from xgboost.core import _LIB, _check_call, c_bst_ulong

from mlsys_assets.model_contract import Baseline, FeatureSpec

DEFAULT_THRESHOLD = 0.5
NAN = float("nan")


@dataclass(frozen=True)
class ModelBundle:
    """A registered model version in memory: booster, input spec, threshold and baseline."""

    name: str
    version: str
    booster: xgb.Booster
    spec: FeatureSpec
    threshold: float = DEFAULT_THRESHOLD
    baseline: Baseline | None = None
    run_id: str | None = None
    _codes: dict[str, dict[str, float]] = field(init=False, repr=False, compare=False)
    _plan: tuple[tuple[str, dict[str, float] | None], ...] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        codes = {
            name: {str(category): float(i) for i, category in enumerate(categories)}
            for name, categories in self.spec.categories.items()
        }
        object.__setattr__(self, "_codes", codes)
        plan = tuple((name, codes.get(name)) for name in self.spec.feature_names)
        object.__setattr__(self, "_plan", plan)
        # One thread per prediction: OpenMP fan-out costs more than it saves on a single row,
        # and the server's concurrency comes from requests, not from inside a prediction.
        self.booster.set_param({"nthread": 1})

    @property
    def feature_names(self) -> list[str]:
        return self.spec.feature_names

    def encode_row(self, values: Mapping[str, Any]) -> np.ndarray:
        """The booster input row for one flight's feature values (None/unknown -> NaN)."""
        return np.array([self._encode(values)], dtype=np.float64)

    def encode_rows(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """The booster input matrix for several flights' feature values."""
        if len(rows) < 8:
            return self._encode_small(rows)
        columns = {name: [values.get(name) for values in rows] for name, _ in self._plan}
        return self.encode_columns(columns, range(len(rows)))

    def encode_columns(
        self, columns: Mapping[str, Sequence[Any]], rows: Sequence[int]
    ) -> np.ndarray:
        """The booster input matrix for flights ``rows`` of feature columns (serving's batch).

        Column by column: numpy turns a column of floats and Nones into floats and NaNs in C,
        so a 1,000-flight batch costs a few dozen conversions, not 1,000 row encodings.
        """
        if len(rows) < 8:
            return self._encode_small(
                [{name: column[j] for name, column in columns.items()} for j in rows]
            )
        whole = isinstance(rows, range) and rows == range(len(next(iter(columns.values()), ())))
        pick = None if whole else operator.itemgetter(*rows)
        matrix = np.empty((len(rows), len(self._plan)), dtype=np.float64)
        for i, (name, codes) in enumerate(self._plan):
            column = columns.get(name)
            if column is None:
                matrix[:, i] = NAN
                continue
            if pick is not None:
                column = pick(column)
            if codes is not None:
                matrix[:, i] = [NAN if v is None else codes.get(str(v), NAN) for v in column]
                continue
            try:
                matrix[:, i] = np.array(column, dtype=np.float64)
            except (TypeError, ValueError):  # text among the numbers: the row-wise rules
                matrix[:, i] = [_as_float(v) for v in column]
        return matrix

    def _encode_small(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        if not rows:
            return np.empty((0, len(self._plan)), dtype=np.float64)
        return np.array([self._encode(values) for values in rows], dtype=np.float64)

    def _encode(self, values: Mapping[str, Any]) -> list[float]:
        # Categoricals: the index in the training categories (XGBoost's codes); numerics: float.
        return [
            (NAN if (v := values.get(name)) is None else codes.get(str(v), NAN))
            if codes is not None
            else _as_float(values.get(name))
            for name, codes in self._plan
        ]

    def encode_frame(self, features: pd.DataFrame) -> np.ndarray:
        """The booster input matrix for a frame of features (batch scoring), column-wise."""
        matrix = np.empty((len(features), len(self.spec.feature_names)), dtype=np.float64)
        for i, name in enumerate(self.spec.feature_names):
            if name not in features:
                matrix[:, i] = NAN
            elif name in self._codes:
                column = features[name].astype("object")
                text = column.where(column.isna(), column.map(str))
                matrix[:, i] = text.map(self._codes[name]).astype("float64").to_numpy()
            else:
                matrix[:, i] = pd.to_numeric(features[name], errors="coerce").astype("float64")
        return matrix

    def predict_matrix(self, matrix: np.ndarray) -> np.ndarray:
        """Delay probabilities for an encoded matrix (float64, C-contiguous)."""
        if len(matrix) == 0:
            return np.empty(0, dtype=np.float64)
        matrix = np.ascontiguousarray(matrix, dtype=np.float64)
        try:
            return _predict_dense(self.booster, matrix)
        except (AttributeError, OSError, TypeError):  # the C entry point moved: the public API
            return np.asarray(self.booster.inplace_predict(matrix), dtype=np.float64).reshape(-1)

    def predict_one(self, values: Mapping[str, Any]) -> float:
        """The delay probability of one flight (the online hot path)."""
        return float(self.predict_matrix(self.encode_row(values))[0])

    def predict_frame(self, features: pd.DataFrame) -> np.ndarray:
        """Delay probabilities for a frame of features (batch scoring)."""
        return self.predict_matrix(self.encode_frame(features))


_PREDICT_ARGS = json.dumps(
    {
        "type": 0,  # the objective's output: a probability for binary:logistic
        "training": False,
        "iteration_begin": 0,
        "iteration_end": 0,
        "missing": float("nan"),
        "strict_shape": False,
        "cache_id": 0,
    }
).encode()


def _predict_dense(booster: xgb.Booster, matrix: np.ndarray) -> np.ndarray:
    """``Booster.inplace_predict`` on a dense float64 matrix, minus its Python overhead.

    The same C call (``XGBoosterPredictFromDense``) with the arguments ``inplace_predict`` would
    build; on one row that wrapper costs more than the trees (about 130 of 200 microseconds).
    XGBoost keeps the output buffer per thread until that thread's next call, so it is copied
    out at once. A test pins the result to ``inplace_predict``'s.
    """
    rows, columns = matrix.shape
    interface = (
        f'{{"data":[{matrix.ctypes.data},true],"shape":[{rows},{columns}],'
        f'"typestr":"<f8","version":3,"strides":null}}'
    ).encode()
    shape = ctypes.POINTER(c_bst_ulong)()
    dims = c_bst_ulong()
    predictions = ctypes.POINTER(ctypes.c_float)()
    _check_call(
        _LIB.XGBoosterPredictFromDense(
            booster.handle,
            interface,
            _PREDICT_ARGS,
            ctypes.c_void_p(),
            ctypes.byref(shape),
            ctypes.byref(dims),
            ctypes.byref(predictions),
        )
    )
    count = 1
    for i in range(dims.value):
        count *= int(shape[i])
    if count != rows:
        raise TypeError(f"expected {rows} predictions, got {count}")
    return np.ctypeslib.as_array(predictions, shape=(count,)).astype(np.float64)


def _as_float(value: Any) -> float:
    if value is None:
        return NAN
    if type(value) is float:
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return NAN
