"""Why the model decides, day by day: the mean |contribution| of each feature in explained answers.

Serving logs every feature's TreeSHAP contribution (log-odds) with each answer asked with
``explain=true`` (``contributions``, a struct with one field per feature, and
``contribution_bias``; ``serving/explain.py``). The daily asset ``feature_contributions`` keeps,
per flight day and feature, the mean absolute contribution over the day's explained answers,
so a shift in *why* the model decides shows beside the drift of *what* it is fed. A day without
explained answers has no rows (nothing to say), not zeros.
"""

import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd

from mlsys_assets.clock import utc_now
from mlsys_assets.monitoring.assets import daily, monitored_days
from mlsys_assets.monitoring.store import SCHEMA
from mlsys_assets.prediction_log_contract import PREDICTION_LOG_DIR
from mlsys_assets.resources.run_settings import RunSettings
from mlsys_assets.resources.warehouse import Warehouse, transaction

TABLE = "feature_contributions"
COLUMNS = ["feature", "mean_abs_contribution", "mean_contribution", "explained"]
TOP = 10  # features shown in the asset's metadata


def mean_abs_contributions(log_dir: Path, day: dt.date) -> pd.DataFrame:
    """Per feature, the mean |contribution| (and mean signed one) over the explained answers
    of flights of ``day`` (the log's ``date=`` partition), largest first."""
    files = sorted(str(p) for p in (log_dir / f"date={day.isoformat()}").glob("*.parquet"))
    if not files:
        return pd.DataFrame(columns=COLUMNS)
    with duckdb.connect() as conn:
        names = conn.execute(
            "SELECT column_name FROM (DESCRIBE SELECT * FROM read_parquet(?, union_by_name = true))",
            [files],
        ).fetchall()
        if ("contributions",) not in names:  # written before explanations existed
            return pd.DataFrame(columns=COLUMNS)
        explained = conn.execute(
            "SELECT unnest(contributions) FROM read_parquet(?, union_by_name = true) "
            "WHERE contribution_bias IS NOT NULL",
            [files],
        ).df()
    if explained.empty:
        return pd.DataFrame(columns=COLUMNS)
    frame = pd.DataFrame(
        {
            "feature": explained.columns,
            "mean_abs_contribution": explained.abs().mean().to_numpy(),
            "mean_contribution": explained.mean().to_numpy(),
            "explained": explained.notna().sum().to_numpy(),
        }
    )
    frame = frame[frame["explained"] > 0]  # features the model does not have
    return frame.sort_values("mean_abs_contribution", ascending=False, ignore_index=True)


def store_day(conn: duckdb.DuckDBPyConnection, day: dt.date, frame: pd.DataFrame) -> None:
    """Replace ``day``'s rows of ``monitoring.feature_contributions`` (its own table)."""
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {SCHEMA}.{TABLE} (day DATE, feature VARCHAR, "
        "mean_abs_contribution DOUBLE, mean_contribution DOUBLE, explained BIGINT, "
        "computed_at TIMESTAMP)"
    )
    with transaction(conn):
        conn.execute(f"DELETE FROM {SCHEMA}.{TABLE} WHERE day = ?", [day])
        if len(frame):
            rows = frame.assign(day=day, computed_at=utc_now())
            conn.register("__contribution_rows", rows)
            conn.execute(f"INSERT INTO {SCHEMA}.{TABLE} BY NAME SELECT * FROM __contribution_rows")
            conn.unregister("__contribution_rows")


@daily()  # a catch-up's days in one run, as every monitoring asset
def feature_contributions(
    context: dg.AssetExecutionContext, warehouse: Warehouse, run_settings: RunSettings
) -> dg.MaterializeResult:
    """Mean |TreeSHAP contribution| per feature over each day's explained answers
    (explain=true); the metadata shows the newest day of the run."""
    settings = run_settings.resolve()
    frame = pd.DataFrame()
    with warehouse.connect() as conn:
        for day in monitored_days(context):
            frame = mean_abs_contributions(settings.predictions_dir / PREDICTION_LOG_DIR, day)
            store_day(conn, day, frame)
    top = frame.head(TOP)
    return dg.MaterializeResult(
        metadata={
            "explained_answers": dg.MetadataValue.int(int(frame["explained"].max() or 0))
            if len(frame)
            else dg.MetadataValue.int(0),
            "top_features": dg.MetadataValue.md(
                top[["feature", "mean_abs_contribution"]].to_markdown(index=False)
                if len(top)
                else "no explained answers this day"
            ),
        }
    )


ASSETS = [feature_contributions]
