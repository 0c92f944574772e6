"""The unit tier (``make test-fast``): every test in this folder not marked ``process`` is
marked ``unit``.

A unit test checks pure code or an in-memory / tmp-file store: no MLflow, no XGBoost, no
serving world, no shared warehouse fixture, a second at most. ``test_tier.py`` keeps it so.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents and item.get_closest_marker("process") is None:
            item.add_marker(pytest.mark.unit)
