"""Dagster resources: one per external system, picked by settings, never by ``if`` in assets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlsys_assets.resources.run_settings import RunSettings
from mlsys_assets.resources.warehouse import Warehouse
from mlsys_assets.settings import Settings

__all__ = ["RunSettings", "Warehouse", "build_resources"]


def build_resources(
    settings: Settings, view_ttl_seconds: Mapping[str, float] | None = None
) -> dict[str, Any]:
    """Return the resources for ``settings.profile``: the embedded default or production.

    Each layer registers the resources it needs here, so that switching a backend is a change of
    settings, not of code. ``view_ttl_seconds`` (``features.catalog.view_ttl_seconds()``) is
    how long the Redis online store keeps each view's keys; the code location hands it in.
    """
    from mlsys_assets.resources.registry import layer_resources

    resources: dict[str, Any] = {
        "warehouse": Warehouse(
            path=str(settings.warehouse_path),
            lock_timeout_seconds=settings.backends.warehouse_lock_timeout_seconds,
        ),
    }
    resources.update(layer_resources(settings, view_ttl_seconds))
    # Every layer's knobs as config (the launchpad shows them; a run may override them).
    resources["run_settings"] = RunSettings.from_settings(settings)
    return resources
