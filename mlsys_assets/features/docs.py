"""Human-readable descriptions of the definitions: Dagster metadata and the README's feature list."""

from __future__ import annotations

import dagster as dg

from mlsys_assets.features.spec import FeatureService, FeatureView, format_ttl

_TYPES = {"float64": "DOUBLE", "string": "VARCHAR"}


def table_schema(view: FeatureView) -> dg.TableSchema:
    """The offline table's columns, with each feature's description (shown in the asset's UI)."""
    cols = []
    for key in view.entity.join_keys:
        key_type = view.entity.derived[key].sql_type if key in view.entity.derived else "VARCHAR"
        cols.append(
            dg.TableColumn(key, key_type, description=f"join key of entity {view.entity.name}")
        )
    cols.append(dg.TableColumn("event_timestamp", "TIMESTAMP", description=view.event_time))
    if view.has_valid_to:
        cols.append(dg.TableColumn("valid_to", "TIMESTAMP", description="end of validity (SCD2)"))
    if view.partitioned:
        cols.append(dg.TableColumn("feature_date", "DATE", description="partition: local day"))
    for feature in view.columns:
        cols.append(
            dg.TableColumn(feature.name, _TYPES[feature.dtype], description=feature.description)
        )
    cols.append(dg.TableColumn("computed_at", "TIMESTAMP", description="when the row was computed"))
    return dg.TableSchema(columns=cols)


def view_metadata(view: FeatureView) -> dict[str, object]:
    """Static definition metadata of a view's asset."""
    features = "\n".join(f"| `{f.name}` | {f.dtype} | {f.description} |" for f in view.features)
    return {
        "dagster/column_schema": table_schema(view),
        "dagster/table_name": view.table,
        "entity": dg.MetadataValue.text(f"{view.entity.name} ({', '.join(view.entity.join_keys)})"),
        "event_time": dg.MetadataValue.text(view.event_time),
        "ttl": dg.MetadataValue.text(format_ttl(view.ttl)),
        "features": dg.MetadataValue.md(
            "| feature | dtype | description |\n|---|---|---|\n" + features
        ),
    }


def service_markdown(service: FeatureService) -> str:
    """Markdown list of a service's features, grouped by view (README, UI)."""
    lines = [f"Feature service `{service.name}`: {len(service.feature_names)} features."]
    lines.append("")
    lines.append(
        "- request-time (same code online and offline): "
        + ", ".join(f"`{f.name}`" for f in service.request)
    )
    for view in service.views:
        ttl = f"TTL {format_ttl(view.ttl)}"
        names = ", ".join(f"`{f.name}`" for f in view.features)
        lines.append(f"- `{view.name}` (entity {view.entity.name}, {ttl}): {names}")
    return "\n".join(lines)
