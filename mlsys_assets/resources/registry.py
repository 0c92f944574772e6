"""Where each layer adds its resources to the shared dictionary (one function per layer)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlsys_assets.resources.backends import build_event_stream, build_online_store
from mlsys_assets.resources.landing_zone import LandingZone
from mlsys_assets.resources.source_database import SourceDatabase
from mlsys_assets.resources.tracking import Tracking
from mlsys_assets.secrets import dagster_secret
from mlsys_assets.settings import Settings


def layer_resources(
    settings: Settings, view_ttl_seconds: Mapping[str, float] | None = None
) -> dict[str, Any]:
    """Resources of every layer beyond the warehouse, keyed by resource name.

    ``view_ttl_seconds``: how long Redis keeps each online view's keys (``features.catalog``).
    """
    # Dagster's UI shows resource config: a URL holding a password goes in as an EnvVar.
    redis_url = dagster_secret(settings.redis)
    tracking = Tracking.from_settings(settings)
    resources: dict[str, Any] = {}
    resources["tracking"] = Tracking(
        tracking_uri=dagster_secret(tracking.tracking_uri),
        artifact_root=tracking.artifact_root,
        model_name=tracking.model_name,
    )
    resources["online_store"] = build_online_store(settings, redis_url, view_ttl_seconds)
    # ingestion
    resources["landing_zone"] = LandingZone(path=str(settings.landing_dir))
    resources["event_stream"] = build_event_stream(settings, redis_url)
    resources["source_database"] = SourceDatabase(url=dagster_secret(settings.source_db))
    return resources
