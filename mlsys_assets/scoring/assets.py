"""The batch-scoring asset: each day, the champion scores the next day's flights."""

# No `from __future__ import annotations`: Dagster must see the real context type.
import datetime as dt

import dagster as dg

from mlsys_assets.features.assets import FEATURE_TABLE_KEYS
from mlsys_assets.model_contract import ALIAS_CHAMPION
from mlsys_assets.partitions import DAILY_2013
from mlsys_assets.resources.run_settings import RunSettings
from mlsys_assets.resources.tracking import Tracking
from mlsys_assets.resources.warehouse import Warehouse
from mlsys_assets.scoring import TABLE
from mlsys_assets.scoring.rules import parse_rules

GROUP = "scoring"  # the package's name: online serving is the top-level `serving` package
POOL = "warehouse"
# Partition D scores D + 1: it reads features up to the next day's prediction times.
NEXT_DAY = dg.TimeWindowPartitionMapping(
    start_offset=0, end_offset=1, allow_nonexistent_upstream_partitions=True
)


@dg.asset(
    group_name=GROUP,
    partitions_def=DAILY_2013,
    pool=POOL,
    kinds={"duckdb", "xgboost"},
    deps=[
        *(dg.AssetDep(key, partition_mapping=NEXT_DAY) for key in FEATURE_TABLE_KEYS),
        dg.AssetDep("model_aliases"),
    ],
    metadata={"table": TABLE},
)
def batch_scores(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    tracking: Tracking,
    run_settings: RunSettings,
) -> dg.MaterializeResult:
    """Every flight of the next day scored by the champion, with its model version, in serving.batch_scores."""
    # Imported here: every run process loads this module, few of them score (mlflow, xgboost).
    from mlsys_assets.scoring.batch import score_flights, write_scores
    from mlsys_assets.scoring.loading import RegistryReader

    partition_date = dt.date.fromisoformat(context.partition_key)
    day = partition_date + dt.timedelta(days=1)
    reader = RegistryReader(tracking.tracking_uri, tracking.model_name)
    version = reader.alias_version(ALIAS_CHAMPION)
    if version is None:
        raise dg.Failure(f"{tracking.model_name} has no {ALIAS_CHAMPION}: nothing to score with")
    bundle = reader.load(version)
    settings = run_settings.resolve()
    rules = parse_rules(settings.serving.rules)
    engine = settings.serving.batch_engine
    with warehouse.connect() as conn:
        if engine == "spark":  # pyspark is imported only on this branch
            from mlsys_assets.scoring.spark import score_flights_on_spark

            scores = score_flights_on_spark(
                conn,
                bundle,
                day,
                rules,
                tracking_uri=tracking.tracking_uri,
                master=settings.serving.spark_master,
            )
        else:
            scores = score_flights(conn, bundle, day, rules)
        written = write_scores(conn, partition_date, scores)
    context.log.info(
        f"scored {written} flights of {day} with {bundle.name} v{bundle.version} on {engine}"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": written,
            "scored_day": str(day),
            "model_version": bundle.version,
            "engine": engine,
            "delayed_share": float(scores["delayed"].mean()) if written else 0.0,
            "mean_probability": float(scores["delay_probability"].mean()) if written else 0.0,
        }
    )
