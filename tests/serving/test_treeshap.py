"""The per-leaf TreeSHAP tables give XGBoost's own ``pred_contribs`` values, or step aside."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from serving import treeshap


def _booster(params: dict[str, object], rounds: int = 12) -> tuple[xgb.Booster, xgb.DMatrix]:
    """A small model with every kind of split: numeric, categorical and missing values."""
    rng = np.random.default_rng(7)
    rows = 600
    frame = pd.DataFrame(
        {
            "distance": rng.uniform(100, 3000, rows),
            "hour": rng.integers(0, 24, rows).astype(float),
            "carrier": pd.Categorical(rng.choice(list("ABCDEFGH"), rows)),
            "load": rng.normal(0.0, 1.0, rows),
        }
    )
    frame.loc[rng.random(rows) < 0.2, "load"] = np.nan
    frame.loc[rng.random(rows) < 0.1, "carrier"] = np.nan
    label = (
        (frame["hour"] > 16) ^ frame["carrier"].isin(["B", "E"]) ^ (frame["load"].fillna(0) > 0.5)
    ).astype(int)
    data = xgb.DMatrix(frame, label=label, enable_categorical=True)
    booster = xgb.train({"max_depth": 5, "nthread": 1, **params}, data, rounds)
    return booster, data


@pytest.mark.parametrize("onehot", [1, 16])  # categorical splits: a partition, or one category
def test_the_tables_give_xgboosts_contributions_for_every_kind_of_split(onehot: int) -> None:
    booster, data = _booster({"objective": "binary:logistic", "max_cat_to_onehot": onehot})
    tables = treeshap.build(booster)
    assert tables is not None
    expected = booster.predict(data, pred_contribs=True)
    found = treeshap.contributions(tables, _dense(data))
    assert np.allclose(found, expected, atol=1e-5)
    margins = booster.predict(data, output_margin=True)
    assert np.allclose(found.sum(axis=1), margins, atol=1e-5)


def test_a_model_the_tables_do_not_handle_is_left_to_xgboost() -> None:
    softmax, _ = _booster({"objective": "multi:softprob", "num_class": 3}, rounds=3)
    poisson, _ = _booster({"objective": "count:poisson"}, rounds=3)
    assert treeshap.build(softmax) is None
    assert treeshap.build(poisson) is None


def _dense(data: xgb.DMatrix) -> np.ndarray:
    """The DMatrix's values with missing ones as NaN (what the serving encoder produces)."""
    sparse = data.get_data().tocoo()
    out = np.full(sparse.shape, np.nan)
    out[sparse.row, sparse.col] = sparse.data
    return out
