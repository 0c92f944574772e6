"""Dagster assets of the feature store: one offline table per feature view, and the online store.

The assets are generated from the definitions in ``catalog.py``; the computation lives in
``offline.py``/``online.py`` (plain functions, testable without Dagster).
"""

import datetime as dt

import dagster as dg

from mlsys_assets.features.catalog import FEATURE_VIEWS, FLIGHTS_V1, WINDOWS_DAYS
from mlsys_assets.features.docs import service_markdown, view_metadata
from mlsys_assets.features.offline import compute_view, ensure_tables
from mlsys_assets.features.online import from_us, materialize_online
from mlsys_assets.features.spec import FeatureView, format_ttl
from mlsys_assets.nycflights import FIRST_DAY
from mlsys_assets.partitions import DAILY_2013
from mlsys_assets.resources.online_store import OnlineStore
from mlsys_assets.resources.warehouse import Warehouse

GROUP = "features"
POOL = "warehouse"
ONLINE_ASSET = "online_features"
MATERIALIZE_CHUNK = 5_000


def _lookback_days(view: FeatureView) -> int:
    """How many days before a partition the computation reads (window, previous hour)."""
    if view.kind == "outcome_stats":
        return max(WINDOWS_DAYS) - 1
    if view.kind == "congestion":
        return 1
    return 0


def _deps(view: FeatureView) -> list[dg.AssetDep]:
    deps = []
    for source in view.sources:
        lookback = _lookback_days(view)
        mapping = (
            dg.TimeWindowPartitionMapping(start_offset=-lookback)
            if view.partitioned and lookback
            else None
        )
        deps.append(dg.AssetDep(dg.AssetKey(source), partition_mapping=mapping))
    return deps


def _description(view: FeatureView) -> str:
    ttl = f"TTL {format_ttl(view.ttl)}"
    return (
        f"{view.description}\n\nEntity: {view.entity.name} ({', '.join(view.entity.join_keys)}); "
        f"event time: {view.event_time}; {ttl}. Table `{view.table}`."
    )


def feature_table_asset(view: FeatureView) -> dg.AssetsDefinition:
    """The offline table of one view, recomputable for any range in one run."""

    @dg.asset(
        name=view.name,
        group_name=GROUP,
        description=_description(view),
        deps=_deps(view),
        partitions_def=DAILY_2013 if view.partitioned else None,
        backfill_policy=dg.BackfillPolicy.single_run() if view.partitioned else None,
        pool=POOL,
        kinds={"duckdb"},
        metadata=view_metadata(view),
        tags={"feature_service": FLIGHTS_V1.name},
    )
    def _asset(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        if view.partitioned:
            window = context.partition_time_window
            start = window.start.date()
            end = (window.end - dt.timedelta(days=1)).date()
        else:
            start = end = FIRST_DAY  # unused: full refresh
        with warehouse.connect() as conn:
            ensure_tables(conn, FEATURE_VIEWS)
            rows = compute_view(conn, view, start, end)
            total = conn.execute(f"SELECT count(*) FROM {view.table}").fetchone()
        context.log.info(f"{view.table}: {rows} rows for {start}..{end}")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": rows,
                "table_rows": int(total[0]) if total else 0,
                "range": f"{start}..{end}" if view.partitioned else "full refresh",
            }
        )

    return _asset


FEATURE_TABLE_ASSETS: list[dg.AssetsDefinition] = [feature_table_asset(v) for v in FEATURE_VIEWS]
FEATURE_TABLE_KEYS: list[dg.AssetKey] = [dg.AssetKey(v.name) for v in FEATURE_VIEWS]


@dg.asset(
    name=ONLINE_ASSET,
    group_name=GROUP,
    description=(
        "The online feature store: the newest value of every feature view per entity, with its "
        "event time, pushed incrementally (only rows computed since each view's watermark), in "
        "chunks, resumable after a crash. TTL is enforced when serving reads it."
    ),
    deps=FEATURE_TABLE_KEYS,
    pool=POOL,
    kinds={"sqlite"},
    metadata={"feature_service": dg.MetadataValue.md(service_markdown(FLIGHTS_V1))},
)
def online_features(
    context: dg.AssetExecutionContext, warehouse: Warehouse, online_store: OnlineStore
) -> dg.MaterializeResult:
    with warehouse.connect() as conn:
        ensure_tables(conn, FEATURE_VIEWS)
        stats = materialize_online(
            conn, online_store, FEATURE_VIEWS, chunk_size=MATERIALIZE_CHUNK, log=context.log.info
        )
    metadata: dict[str, object] = {
        "dagster/row_count": sum(s["rows"] for s in stats.values()),
    }
    for name, s in stats.items():
        metadata[f"{name}_rows"] = s["rows"]
        if s["watermark_us"] >= 0:
            metadata[f"{name}_watermark"] = str(from_us(s["watermark_us"]))
    return dg.MaterializeResult(metadata=metadata)
