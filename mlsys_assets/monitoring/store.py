"""The ``monitoring`` schema of the warehouse: one table per signal, one row set per day.

Every daily asset replaces its day's rows atomically, so a partition can be recomputed when late
outcomes or feedback land. The readers at the bottom are what sensors and the overview use.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from mlsys_assets.resources.warehouse import transaction

SCHEMA = "monitoring"

DDL: dict[str, str] = {
    "data_quality": """(
        day DATE NOT NULL, source VARCHAR NOT NULL, column_name VARCHAR NOT NULL,
        check_name VARCHAR NOT NULL, value DOUBLE, expected DOUBLE, warn DOUBLE, error DOUBLE,
        severity VARCHAR NOT NULL, detail VARCHAR, computed_at TIMESTAMP NOT NULL)""",
    "drift": """(
        day DATE NOT NULL, reference_id VARCHAR NOT NULL, model_version VARCHAR,
        kind VARCHAR NOT NULL, feature VARCHAR NOT NULL, method VARCHAR, score DOUBLE,
        threshold DOUBLE, drifted BOOLEAN, computed_at TIMESTAMP NOT NULL)""",
    "drift_summary": """(
        day DATE NOT NULL, reference_id VARCHAR NOT NULL, model_version VARCHAR,
        rows BIGINT, n_features BIGINT, n_drifted BIGINT, drift_share DOUBLE,
        prediction_score DOUBLE, prediction_drifted BOOLEAN, prediction_source VARCHAR,
        report_path VARCHAR, computed_at TIMESTAMP NOT NULL)""",
    "prediction_drift": """(
        day DATE NOT NULL, source VARCHAR NOT NULL, variant VARCHAR NOT NULL,
        model_version VARCHAR, n BIGINT, mean_score DOUBLE, p10 DOUBLE, p50 DOUBLE, p90 DOUBLE,
        positive_rate DOUBLE, reference_mean_score DOUBLE, reference_positive_rate DOUBLE,
        computed_at TIMESTAMP NOT NULL)""",
    "live_performance": """(
        day DATE NOT NULL, source VARCHAR NOT NULL, variant VARCHAR NOT NULL,
        model_version VARCHAR, predictions BIGINT, labelled BIGINT, label_coverage DOUBLE,
        from_feedback BIGINT, positives BIGINT, positive_rate DOUBLE, precision DOUBLE,
        recall DOUBLE, roc_auc DOUBLE, brier DOUBLE, ece DOUBLE, mean_score DOUBLE,
        est_precision DOUBLE, est_recall DOUBLE, est_roc_auc DOUBLE,
        computed_at TIMESTAMP NOT NULL)""",
    "calibration": """(
        day DATE NOT NULL, variant VARCHAR NOT NULL, bin INTEGER NOT NULL, lo DOUBLE, hi DOUBLE,
        n BIGINT, mean_score DOUBLE, observed_rate DOUBLE, computed_at TIMESTAMP NOT NULL)""",
    "performance_estimate": """(
        day DATE NOT NULL, source VARCHAR NOT NULL, model_version VARCHAR, n BIGINT,
        threshold DOUBLE, est_precision DOUBLE, est_recall DOUBLE, est_roc_auc DOUBLE,
        est_positive_rate DOUBLE, computed_at TIMESTAMP NOT NULL)""",
    "skew": """(
        day DATE NOT NULL, feature VARCHAR NOT NULL, compared BIGINT, mismatches BIGINT,
        mismatch_rate DOUBLE, example VARCHAR, computed_at TIMESTAMP NOT NULL)""",
    "operations": """(
        day DATE NOT NULL, requests BIGINT, champion BIGINT, challenger BIGINT, fallback BIGINT,
        latency_p50_ms DOUBLE, latency_p95_ms DOUBLE, latency_p99_ms DOUBLE,
        latency_max_ms DOUBLE, peak_per_minute BIGINT, error_rate DOUBLE, fallback_rate DOUBLE,
        missing_feature_rate DOUBLE, model_versions VARCHAR, computed_at TIMESTAMP NOT NULL)""",
    "feature_coverage": """(
        day DATE NOT NULL, feature VARCHAR NOT NULL, live_missing_share DOUBLE,
        training_missing_share DOUBLE, offline_missing_share DOUBLE, excess DOUBLE,
        requests BIGINT,
        computed_at TIMESTAMP NOT NULL)""",
    # Issue 17: confidence, class balance, business cost, availability, segments.
    "confidence": """(
        day DATE NOT NULL, variant VARCHAR NOT NULL, n BIGINT, p05 DOUBLE, p25 DOUBLE,
        p50 DOUBLE, p75 DOUBLE, p95 DOUBLE, near_threshold_share DOUBLE, mean_margin DOUBLE,
        histogram VARCHAR, source VARCHAR, computed_at TIMESTAMP NOT NULL)""",
    "class_balance": """(
        day DATE NOT NULL, variant VARCHAR NOT NULL, n BIGINT, labelled BIGINT,
        predicted_positive_rate DOUBLE, expected_delay_rate DOUBLE, realised_delay_rate DOUBLE,
        training_delay_rate DOUBLE, source VARCHAR, computed_at TIMESTAMP NOT NULL)""",
    "business_cost": """(
        day DATE NOT NULL, variant VARCHAR NOT NULL, n BIGINT, labelled BIGINT,
        missed_delays BIGINT, false_alarms BIGINT, realised_cost DOUBLE,
        realised_cost_per_flight DOUBLE, expected_cost DOUBLE, expected_cost_per_flight DOUBLE,
        cost_missed_delay DOUBLE, cost_false_alarm DOUBLE, source VARCHAR,
        computed_at TIMESTAMP NOT NULL)""",
    "availability": """(
        day DATE NOT NULL, requests BIGINT, failed BIGINT, slow BIGINT, availability DOUBLE,
        availability_objective DOUBLE, latency_p50_ms DOUBLE, latency_p99_ms DOUBLE,
        latency_p99_objective_ms DOUBLE, fallback_share DOUBLE, window_days BIGINT,
        window_availability DOUBLE, error_budget_left DOUBLE, latency_budget_left DOUBLE,
        computed_at TIMESTAMP NOT NULL)""",
    "segments": """(
        day DATE NOT NULL, dimension VARCHAR NOT NULL, segment VARCHAR NOT NULL, n BIGINT,
        labelled BIGINT, mean_score DOUBLE, reference_mean_score DOUBLE, observed_rate DOUBLE,
        expected_rate DOUBLE, roc_auc DOUBLE, est_roc_auc DOUBLE, drift_score DOUBLE,
        shift DOUBLE, shift_z DOUBLE, shift_p DOUBLE, calibration_gap DOUBLE,
        calibration_z DOUBLE, calibration_p DOUBLE, shift_dispersion DOUBLE,
        calibration_dispersion DOUBLE, p_adjusted DOUBLE, significant BOOLEAN, flagged BOOLEAN,
        reason VARCHAR, source VARCHAR, computed_at TIMESTAMP NOT NULL)""",
}


def ensure_tables(conn: duckdb.DuckDBPyConnection) -> None:
    """Create the schema and its tables (idempotent)."""
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    for name, columns in DDL.items():
        conn.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA}.{name} {columns}")


def replace_day(
    conn: duckdb.DuckDBPyConnection, table: str, day: dt.date, frame: pd.DataFrame
) -> int:
    """Replace ``table``'s rows of ``day`` by ``frame`` (columns by name), in one transaction."""
    ensure_tables(conn)
    with transaction(conn):
        conn.execute(f"DELETE FROM {SCHEMA}.{table} WHERE day = ?", [day])
        if len(frame):
            conn.register("__monitoring_rows", frame.assign(day=day))
            conn.execute(f"INSERT INTO {SCHEMA}.{table} BY NAME SELECT * FROM __monitoring_rows")
            conn.unregister("__monitoring_rows")
    return len(frame)


def _exists(conn: duckdb.DuckDBPyConnection, table: str) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [SCHEMA, table],
    ).fetchone()
    return bool(row and row[0])


def latest_drift_share(
    conn: duckdb.DuckDBPyConnection, day: dt.date | None = None
) -> tuple[dt.date, float] | None:
    """The share of drifted features of ``day`` (or of the latest monitored day), with its day.

    None when that day was not monitored yet. What the drift sensor reads.
    """
    if not _exists(conn, "drift_summary"):
        return None
    where, params = ("WHERE day = ?", [day]) if day is not None else ("", [])
    row = conn.execute(
        f"SELECT day, drift_share FROM {SCHEMA}.drift_summary {where} "
        "ORDER BY day DESC, computed_at DESC LIMIT 1",
        params,
    ).fetchone()
    if row is None or row[1] is None:
        return None
    return row[0], float(row[1])


def drift_scores(conn: duckdb.DuckDBPyConnection, day: dt.date) -> pd.DataFrame:
    """Per-feature drift scores of a day (feature, kind, method, score, threshold, drifted)."""
    if not _exists(conn, "drift"):
        return pd.DataFrame(columns=["feature", "kind", "method", "score", "threshold", "drifted"])
    return conn.execute(
        f"SELECT feature, kind, method, score, threshold, drifted FROM {SCHEMA}.drift "
        "WHERE day = ? ORDER BY kind, score DESC",
        [day],
    ).df()


def history(conn: duckdb.DuckDBPyConnection, table: str, where: str = "") -> pd.DataFrame:
    """All rows of a monitoring table ordered by day (empty frame when the table is missing)."""
    if not _exists(conn, table):
        return pd.DataFrame()
    return conn.execute(f"SELECT * FROM {SCHEMA}.{table} {where} ORDER BY day").df()
