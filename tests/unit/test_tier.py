"""The unit tier stays light: running it alone (``make test-fast``) loads neither MLflow nor
XGBoost, nor the serving app."""

from __future__ import annotations

import sys

import pytest

HEAVY = ("mlflow", "xgboost", "optuna", "serving")


def test_the_unit_tier_imports_neither_mlflow_nor_xgboost(request: pytest.FixtureRequest) -> None:
    if any(item.get_closest_marker("unit") is None for item in request.session.items):
        pytest.skip("judged when the unit tier runs alone: other tests import MLflow on purpose")
    # Every module of the tier is imported by now (collection comes first).
    assert [name for name in HEAVY if name in sys.modules] == []
