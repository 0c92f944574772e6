"""The Dagster code location: every layer's assets, checks, jobs and sensors, with resources.

``workspace.yaml`` and ``dagster dev`` load ``defs`` from here. Each layer module exposes
``build_defs()`` returning a resource-free ``Definitions``; this module merges them and binds the
resources chosen by settings.
"""

from __future__ import annotations

import importlib

import dagster as dg

from mlsys_assets.config_schemas import install as infer_each_config_schema_once
from mlsys_assets.features.catalog import view_ttl_seconds
from mlsys_assets.migration_heads import remember_migration_heads
from mlsys_assets.pool_claims import install as sleep_while_waiting_for_a_slot
from mlsys_assets.resources import build_resources
from mlsys_assets.settings import get_settings

LAYERS: list[str] = [
    "mlsys_assets.ingestion",
    "mlsys_assets.features",
    "mlsys_assets.training",
    "mlsys_assets.registry",
    "mlsys_assets.scoring",
    "mlsys_assets.monitoring",
    "mlsys_assets.loop",
    "mlsys_assets.alerts",
]


def build_definitions() -> dg.Definitions:
    """Merge the layers' definitions and bind the resources of the configured profile."""
    layer_defs = [importlib.import_module(name).build_defs() for name in LAYERS]
    merged = dg.Definitions.merge(*layer_defs) if layer_defs else dg.Definitions()
    # One process per run, steps in sequence: on two cores a process per step costs more in
    # imports than it saves, and DuckDB takes one writer at a time anyway.
    return dg.Definitions.merge(
        merged,
        dg.Definitions(
            resources=build_resources(get_settings(), view_ttl_seconds()),
            executor=dg.in_process_executor,
        ),
    )


remember_migration_heads()  # the code server builds an instance per sensor tick
sleep_while_waiting_for_a_slot()  # run workers load this module: no busy wait for the pool
infer_each_config_schema_once()  # sensor ticks build their resources several times each
defs = build_definitions()
