"""The model registry: MLflow logging, registration, the quality gate, promotion and rollback.

``train_and_register`` (in ``workflow``) trains and registers a model without Dagster;
``build_defs`` gives the assets and the blocking gate check of the ``registry`` group.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

__all__ = ["RegisteredModelInfo", "build_defs", "train_and_register"]


def __getattr__(name: str) -> Any:
    """``train_and_register`` and ``RegisteredModelInfo``, imported on first use (MLflow is slow)."""
    if name in ("train_and_register", "RegisteredModelInfo"):
        from mlsys_assets.registry import workflow

        return getattr(workflow, name)
    raise AttributeError(name)


def build_defs() -> dg.Definitions:
    """The registry group's assets and checks (resources: ``warehouse``, ``tracking``)."""
    from mlsys_assets.registry.assets import ASSETS, CHECKS

    return dg.Definitions(assets=ASSETS, asset_checks=CHECKS)
