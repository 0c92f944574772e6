"""Where each layer adds its resources to the shared dictionary (one function per layer)."""

from __future__ import annotations

from typing import Any

from mlsys_assets.settings import Settings


def layer_resources(settings: Settings) -> dict[str, Any]:  # noqa: ARG001
    """Resources of every layer beyond the warehouse, keyed by resource name."""
    resources: dict[str, Any] = {}
    return resources
