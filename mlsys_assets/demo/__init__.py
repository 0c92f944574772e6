"""``mlsys demo``: the main job, end to end on the embedded default."""

from __future__ import annotations

from typing import Any

__all__ = ["demo"]


def __getattr__(name: str) -> Any:
    """``demo``, imported on first use: the command pulls in every layer (MLflow, XGBoost)."""
    if name == "demo":
        from mlsys_assets.demo.command import demo

        return demo
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
