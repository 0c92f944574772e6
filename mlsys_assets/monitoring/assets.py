"""Dagster assets and checks of the monitoring group: one partition per monitored local day.

Each asset computes one signal for its day, replaces that day's rows in the ``monitoring`` schema
and reports the headline numbers as metadata (so the UI's partition view shows drift share, live
AUC and skew per day); checks carry warn/error severities from settings. Every asset writes the
warehouse, hence the ``warehouse`` pool.
"""

import base64
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd

from mlsys_assets.clock import utc_now
from mlsys_assets.features import FEATURE_VIEWS
from mlsys_assets.monitoring import coverage, quality, skew
from mlsys_assets.monitoring import drift as drift_mod
from mlsys_assets.monitoring import operations as ops_mod
from mlsys_assets.monitoring import performance as perf
from mlsys_assets.monitoring.cost import read_variant_costs
from mlsys_assets.monitoring.daily import day_scores, prediction_stats, reference_or_none
from mlsys_assets.monitoring.overview import overview_frame, overview_png
from mlsys_assets.monitoring.prediction_log import read_feedback, read_predictions
from mlsys_assets.monitoring.reference import Reference, day_features
from mlsys_assets.monitoring.store import replace_day
from mlsys_assets.partitions import DAILY_2013
from mlsys_assets.resources.online_store import OnlineStore
from mlsys_assets.resources.warehouse import Warehouse
from mlsys_assets.settings import Settings, get_settings
from mlsys_assets.stream.freshness import read_freshness

FIRST_COST_DAY, LAST_COST_DAY = dt.date(2013, 1, 1), dt.date(2013, 12, 31)  # the replayed year

GROUP = "monitoring"
POOL = "warehouse"
FEATURE_KEYS = [dg.AssetKey(view.name) for view in FEATURE_VIEWS if view.partitioned]
RAW_KEYS = [dg.AssetKey("raw_flights"), dg.AssetKey("raw_weather")]
NO_REFERENCE = "no reference: no champion model yet and no MLSYS_MONITORING_REFERENCE_WINDOW"


@dataclass
class Day:
    """What one partition's computation needs, opened once."""

    day: dt.date
    settings: Settings
    conn: duckdb.DuckDBPyConnection
    reference: Reference | None


@contextmanager
def open_day(context: dg.AssetExecutionContext, warehouse: Warehouse) -> Iterator[Day]:
    settings = get_settings()
    day = dt.date.fromisoformat(context.partition_key)
    with warehouse.connect() as conn:
        yield Day(day, settings, conn, reference_or_none(conn, settings))


def _num(value: object) -> float | None:
    """A metadata-safe float (None for missing/NaN)."""
    if value is None:
        return None
    number = float(value)  # type: ignore[arg-type]
    return None if number != number else round(number, 6)


def _meta(values: dict[str, object]) -> dict[str, dg.MetadataValue]:
    out: dict[str, dg.MetadataValue] = {}
    for key, value in values.items():
        if isinstance(value, dg.MetadataValue):
            out[key] = value
        elif isinstance(value, bool | str):
            out[key] = dg.MetadataValue.text(str(value))
        elif isinstance(value, int):
            out[key] = dg.MetadataValue.int(value)
        else:
            number = _num(value)
            out[key] = (
                dg.MetadataValue.float(number)
                if number is not None
                else dg.MetadataValue.text("n/a")
            )
    return out


def _md(frame: pd.DataFrame, rows: int = 15) -> dg.MetadataValue:
    if frame.empty:
        return dg.MetadataValue.md("_none_")
    return dg.MetadataValue.md(frame.head(rows).to_markdown(index=False, floatfmt=".4g"))


def _severity(worst: str) -> dg.AssetCheckSeverity:
    return dg.AssetCheckSeverity.ERROR if worst == quality.ERROR else dg.AssetCheckSeverity.WARN


def _graded(value: float | None, warn: float, error: float) -> tuple[bool, str]:
    if value is None or value != value:
        return True, quality.OK
    if value > error:
        return False, quality.ERROR
    return (False, quality.WARN) if value > warn else (True, quality.OK)


def _skipped(asset: str, checks: list[str], reason: str) -> dg.MaterializeResult:
    return dg.MaterializeResult(
        metadata={"status": dg.MetadataValue.text(reason)},
        check_results=[
            dg.AssetCheckResult(
                asset_key=asset, check_name=c, passed=True, metadata={"skipped": reason}
            )
            for c in checks
        ],
    )


# ---------------------------------------------------------------------------- data quality
DQ_CHECKS = {
    quality.MISSING: "missing_values",
    quality.RANGE: "value_ranges",
    quality.NEW_CATEGORY: "unseen_categories",
    quality.VOLUME: "volume",
}


@dg.asset(
    group_name=GROUP,
    partitions_def=DAILY_2013,
    deps=[*RAW_KEYS, *FEATURE_KEYS],
    pool=POOL,
    kinds={"duckdb"},
    check_specs=[
        dg.AssetCheckSpec(name, asset="data_quality", description=f"Data quality: {kind}.")
        for kind, name in DQ_CHECKS.items()
    ],
)
def data_quality(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    """Missing shares, range violations, unseen categories and volume of the day's sources and features."""
    with open_day(context, warehouse) as d:
        if d.reference is None:
            return _skipped("data_quality", list(DQ_CHECKS.values()), NO_REFERENCE)
        features = day_features(d.conn, d.day, d.day)
        findings = quality.data_quality(d.conn, d.settings, d.reference, d.day, features)
        replace_day(d.conn, "data_quality", d.day, findings.assign(computed_at=utc_now()))
    results = []
    for kind, name in DQ_CHECKS.items():
        passed, worst, rows = quality.check_summary(findings, kind)
        shown = rows[["source", "column_name", "value", "severity", "detail"]]
        results.append(
            dg.AssetCheckResult(
                asset_key="data_quality",
                check_name=name,
                passed=passed,
                severity=_severity(worst),
                metadata={"findings": len(rows), "worst": worst, "details": _md(shown)},
            )
        )
    bad = findings[findings["severity"] != quality.OK]
    return dg.MaterializeResult(
        metadata=_meta(
            {
                "flights": len(features),
                "findings_warn": int((bad["severity"] == quality.WARN).sum()),
                "findings_error": int((bad["severity"] == quality.ERROR).sum()),
                "findings": _md(
                    bad[["source", "column_name", "check_name", "value", "severity", "detail"]]
                ),  # fmt: skip
                "reference": d.reference.reference_id,
            }
        ),
        check_results=results,
    )


# ---------------------------------------------------------------------------- drift
@dg.asset(
    group_name=GROUP,
    partitions_def=DAILY_2013,
    deps=FEATURE_KEYS,
    pool=POOL,
    kinds={"evidently", "duckdb"},
    check_specs=[
        dg.AssetCheckSpec(
            "drift_share",
            asset="feature_drift",
            description="Share of drifted features against the champion's training reference.",
        )
    ],
)
def feature_drift(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    """Per-feature and prediction drift of the day against the champion's training data (Evidently)."""
    with open_day(context, warehouse) as d:
        if d.reference is None:
            return _skipped("feature_drift", ["drift_share"], NO_REFERENCE)
        features = day_features(d.conn, d.day, d.day)
        predictions = read_predictions(d.settings, d.day, d.day)
        scores = day_scores(d.reference, predictions, features)
        source = str(scores["source"].iloc[0]) if len(scores) else None
        predicted = scores[perf.SCORE] if len(scores) else None
        result = drift_mod.compute_drift(d.reference, features, predicted)
        path = drift_mod.report_path(d.settings.reports_dir, d.day)
        if len(features):
            drift_mod.write_report(d.reference, _report_frame(features, scores), result,
                                   path, max_columns=d.settings.monitoring_report_max_columns)  # fmt: skip
        stamp = utc_now()
        base = {
            "reference_id": d.reference.reference_id,
            "model_version": d.reference.model.version,
        }
        replace_day(d.conn, "drift", d.day, result.table.assign(**base, computed_at=stamp))
        summary = {
            **base,
            "rows": result.rows,
            "n_features": result.n_features,
            "n_drifted": result.n_drifted,
            "drift_share": result.drift_share,
            "prediction_score": result.prediction_score,
            "prediction_drifted": result.prediction_drifted,
            "prediction_source": source,
            "report_path": str(path) if path.exists() else None,
            "computed_at": stamp,
        }
        replace_day(d.conn, "drift_summary", d.day, pd.DataFrame([summary]))
    passed, worst = _graded(
        result.drift_share,
        d.settings.monitoring_drift_share_warn,
        d.settings.monitoring_drift_share_error,
    )
    report = {}
    if path.exists():
        report = {"report": dg.MetadataValue.path(str(path)),
                  "report_url": dg.MetadataValue.url(path.as_uri())}  # fmt: skip
    top = result.top(10)[["feature", "method", "score", "threshold", "drifted"]]
    return dg.MaterializeResult(
        metadata=_meta(
            {
                "drift_share": result.drift_share,
                "drifted_features": result.n_drifted,
                "features": result.n_features,
                "prediction_drift_score": result.prediction_score,
                "prediction_drifted": str(result.prediction_drifted),
                "rows": result.rows,
                "top_drifted": _md(top),
                "reference": d.reference.reference_id,
                **report,
            }
        ),
        check_results=[
            dg.AssetCheckResult(
                asset_key="feature_drift",
                check_name="drift_share",
                passed=passed,
                severity=_severity(worst),
                metadata=_meta({"drift_share": result.drift_share, "top_drifted": _md(top, 5)}),
            )
        ],
    )


def _report_frame(current: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """The frame rendered in the report: the day's features beside its scores (NaN-padded)."""
    logged = scores[perf.SCORE].reset_index(drop=True)
    frame = current.reset_index(drop=True)
    n = max(len(frame), len(logged))
    frame = frame.reindex(range(n))
    frame[perf.SCORE] = logged.reindex(range(n)).to_numpy()
    return frame


# ---------------------------------------------------------------------------- predictions
@dg.asset(group_name=GROUP, partitions_def=DAILY_2013, deps=FEATURE_KEYS, pool=POOL,
          kinds={"duckdb"})  # fmt: skip
def prediction_drift(
    context: dg.AssetExecutionContext, warehouse: Warehouse
) -> dg.MaterializeResult:
    """Score distribution and positive rate of the day's predictions, per variant, beside the reference's."""
    with open_day(context, warehouse) as d:
        if d.reference is None:
            return dg.MaterializeResult(metadata={"status": dg.MetadataValue.text(NO_REFERENCE)})
        predictions = read_predictions(d.settings, d.day, d.day)
        features = day_features(d.conn, d.day, d.day) if predictions.empty else pd.DataFrame()
        scores = day_scores(d.reference, predictions, features)
        stats = prediction_stats(scores, d.reference)
        replace_day(d.conn, "prediction_drift", d.day, stats.assign(computed_at=utc_now()))
    if stats.empty:
        return dg.MaterializeResult(metadata={"status": dg.MetadataValue.text("no predictions")})
    total = stats.iloc[0]
    return dg.MaterializeResult(
        metadata=_meta(
            {
                "source": str(total["source"]),
                "predictions": int(total["n"]),
                "mean_score": total["mean_score"],
                "positive_rate": total["positive_rate"],
                "reference_positive_rate": total["reference_positive_rate"],
                "by_variant": _md(stats.drop(columns=["source"])),
            }
        )
    )


@dg.asset(group_name=GROUP, partitions_def=DAILY_2013, deps=FEATURE_KEYS, pool=POOL,
          kinds={"duckdb"})  # fmt: skip
def performance_estimate(
    context: dg.AssetExecutionContext, warehouse: Warehouse
) -> dg.MaterializeResult:
    """Precision, recall and ROC AUC estimated before labels arrive, from calibrated confidence (CBPE)."""
    with open_day(context, warehouse) as d:
        if d.reference is None or d.reference.bundle is None:
            reason = NO_REFERENCE if d.reference is None else "no champion model to calibrate"
            return dg.MaterializeResult(metadata={"status": dg.MetadataValue.text(reason)})
        predictions = read_predictions(d.settings, d.day, d.day)
        features = day_features(d.conn, d.day, d.day) if predictions.empty else pd.DataFrame()
        scores = day_scores(d.reference, predictions, features)
        calibrator = perf.fit_calibrator(d.reference)
        threshold = (
            float(scores["threshold"].median()) if len(scores) else d.reference.model.threshold
        )
        estimate = perf.estimate_performance(scores[perf.SCORE].to_numpy(), threshold, calibrator)
        row = {"source": scores["source"].iloc[0] if len(scores) else "none",
               "model_version": d.reference.model.version, "n": len(scores),
               "threshold": threshold, **estimate, "computed_at": utc_now()}  # fmt: skip
        replace_day(d.conn, "performance_estimate", d.day, pd.DataFrame([row]))
    return dg.MaterializeResult(metadata=_meta({**estimate, "predictions": len(scores),
                                                "calibrated": str(calibrator is not None)}))  # fmt: skip


@dg.asset(
    group_name=GROUP,
    partitions_def=DAILY_2013,
    deps=[dg.AssetKey("raw_flights"), performance_estimate],
    pool=POOL,
    kinds={"duckdb"},
    check_specs=[
        dg.AssetCheckSpec(
            "live_roc_auc",
            asset="live_performance",
            description="Live ROC AUC at least the quality gate's floor.",
        ),  # fmt: skip
    ],
)
def live_performance(
    context: dg.AssetExecutionContext, warehouse: Warehouse
) -> dg.MaterializeResult:
    """Realised precision, recall, ROC AUC, Brier and calibration per variant, once outcomes are known."""
    with open_day(context, warehouse) as d:
        if d.reference is None:
            return _skipped("live_performance", ["live_roc_auc"], NO_REFERENCE)
        predictions = read_predictions(d.settings, d.day, d.day)
        features = day_features(d.conn, d.day, d.day) if predictions.empty else pd.DataFrame()
        scores = day_scores(d.reference, predictions, features)
        if scores.empty:
            return _skipped("live_performance", ["live_roc_auc"], "no predictions for this day")
        feedback = read_feedback(d.settings, scores["request_id"].dropna())
        labelled = perf.attach_labels(d.conn, d.settings, scores, feedback)
        table = perf.live_metrics(labelled)
        estimate = d.conn.execute(
            "SELECT est_precision, est_recall, est_roc_auc FROM monitoring.performance_estimate "
            "WHERE day = ? ORDER BY computed_at DESC LIMIT 1",
            [d.day],
        ).fetchone() if _has_table(d.conn, "performance_estimate") else None  # fmt: skip
        est = dict(
            zip(
                ["est_precision", "est_recall", "est_roc_auc"], estimate or (None,) * 3, strict=True
            )
        )
        for key, value in est.items():
            table[key] = [value if v == "all" else None for v in table["variant"]]
        stamp = utc_now()
        table["source"] = scores["source"].iloc[0]
        replace_day(d.conn, "live_performance", d.day, table.assign(computed_at=stamp))
        known = labelled[labelled[perf.LABEL].notna()]
        calibration = pd.concat(
            [
                perf.calibration_table(
                    part[perf.LABEL].to_numpy(), part[perf.SCORE].to_numpy()
                ).assign(variant=v)
                for v, part in [("all", known), *known.groupby("variant")]
            ]
        )
        replace_day(d.conn, "calibration", d.day, calibration.assign(computed_at=stamp))
    total = table.iloc[0]
    enough = int(total["labelled"]) >= d.settings.monitoring_min_labelled
    auc = _num(total["roc_auc"])
    floor = d.settings.gate_min_roc_auc
    passed = not enough or auc is None or auc >= floor
    metadata = {
        "live_roc_auc": total["roc_auc"],
        "precision": total["precision"],
        "recall": total["recall"],
        "brier": total["brier"],
        "ece": total["ece"],
        "label_coverage": total["label_coverage"],
        "labelled": int(total["labelled"]),
        "estimated_roc_auc": est["est_roc_auc"],
        "roc_auc_minus_estimate": (auc - est["est_roc_auc"])
        if auc is not None and est["est_roc_auc"] is not None
        else None,
        "source": str(total["source"]),
        "by_variant": _md(
            table.drop(columns=["source", "est_precision", "est_recall", "est_roc_auc"])
        ),
    }
    return dg.MaterializeResult(
        metadata=_meta(metadata),
        check_results=[
            dg.AssetCheckResult(
                asset_key="live_performance",
                check_name="live_roc_auc",
                passed=passed,
                severity=dg.AssetCheckSeverity.WARN,
                metadata=_meta(
                    {
                        "live_roc_auc": auc,
                        "floor": floor,
                        "labelled": int(total["labelled"]),
                        "enough_labels": str(enough),
                    }
                ),  # fmt: skip
            )
        ],
    )


def _has_table(conn: duckdb.DuckDBPyConnection, table: str) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'monitoring' "
        "AND table_name = ?",
        [table],
    ).fetchone()
    return bool(row and row[0])


# ---------------------------------------------------------------------------- skew
@dg.asset(
    group_name=GROUP,
    partitions_def=DAILY_2013,
    deps=FEATURE_KEYS,
    pool=POOL,
    kinds={"duckdb"},
    check_specs=[
        dg.AssetCheckSpec(
            "online_offline_parity",
            asset="training_serving_skew",
            description="Features served online equal the offline point-in-time values.",
        ),  # fmt: skip
    ],
)
def training_serving_skew(
    context: dg.AssetExecutionContext, warehouse: Warehouse
) -> dg.MaterializeResult:
    """Mismatch rate per feature between the features served online and the offline point-in-time values."""
    settings = get_settings()
    day = dt.date.fromisoformat(context.partition_key)
    predictions = read_predictions(settings, day, day)
    with warehouse.connect() as conn:
        table, detail = skew.compare(conn, predictions)
        replace_day(conn, "skew", day, table.assign(computed_at=utc_now()))
    compared = int(table["compared"].max()) if len(table) else 0
    worst = float(table["mismatch_rate"].max()) if len(table) else 0.0
    passed, grade = _graded(worst, settings.monitoring_skew_warn, settings.monitoring_skew_error)
    offending = table[table["mismatches"] > 0].sort_values("mismatch_rate", ascending=False)
    metadata = _meta(
        {
            "skew_max_mismatch_rate": worst,
            "skewed_features": len(offending),
            "compared_predictions": compared,
            "mismatches": _md(offending[["feature", "mismatches", "mismatch_rate", "example"]]),
        }
    )
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=[
            dg.AssetCheckResult(
                asset_key="training_serving_skew",
                check_name="online_offline_parity",
                passed=passed,
                severity=_severity(grade),
                metadata=metadata,
            )
        ],
    )


# ---------------------------------------------------------------------------- coverage
@dg.asset(
    group_name=GROUP,
    partitions_def=DAILY_2013,
    pool=POOL,
    kinds={"duckdb"},
    check_specs=[
        dg.AssetCheckSpec(
            "live_missing_features",
            asset="live_feature_coverage",
            description="No feature is missing in live traffic far more often than in training.",
        ),  # fmt: skip
    ],
)
def live_feature_coverage(
    context: dg.AssetExecutionContext, warehouse: Warehouse, online_store: OnlineStore
) -> dg.MaterializeResult:
    """Per feature, the share of the day's live requests that missed it, against training; and
    the online store's freshness (event to visible online, per streamed source)."""
    settings = get_settings()
    day = dt.date.fromisoformat(context.partition_key)
    predictions = read_predictions(settings, day, day)
    with warehouse.connect() as conn:
        reference = reference_or_none(conn, settings)
        offline = skew.offline_features(conn, predictions) if len(predictions) else None
        table = coverage.feature_coverage(
            predictions, reference.train if reference is not None else None, offline
        )
        replace_day(conn, "feature_coverage", day, table.assign(computed_at=utc_now()))
    try:
        freshness = read_freshness(online_store.read_state())
    except Exception:  # noqa: BLE001 - the store is down: coverage is still measured
        freshness = {}
    lag = {f"freshness_{t}_p99_ms": v.get("p99_ms") for t, v in freshness.items()}
    lag |= {f"freshness_{t}_p50_ms": v.get("p50_ms") for t, v in freshness.items()}
    if table.empty:
        return _skipped("live_feature_coverage", ["live_missing_features"], "no predictions")
    worst = table.iloc[0]
    passed, grade = _graded(
        float(worst["excess"]),
        settings.monitoring_live_missing_warn,
        settings.monitoring_live_missing_error,
    )
    metadata = _meta(
        {
            "requests": int(worst["requests"]),
            "worst_feature": str(worst["feature"]),
            "worst_excess_missing": float(worst["excess"]),
            "mean_live_missing_share": float(table["live_missing_share"].mean()),
            "features": _md(table, rows=20),
            **lag,
        }
    )
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=[
            dg.AssetCheckResult(
                asset_key="live_feature_coverage",
                check_name="live_missing_features",
                passed=passed,
                severity=_severity(grade),
                metadata=metadata,
            )
        ],
    )


# ---------------------------------------------------------------------------- operations
@dg.asset(
    group_name=GROUP,
    partitions_def=DAILY_2013,
    pool=POOL,
    kinds={"duckdb"},
    check_specs=[
        dg.AssetCheckSpec(
            "latency_and_fallbacks",
            asset="serving_operations",
            description="p95 latency and fallback rate within their limits.",
        ),  # fmt: skip
    ],
)
def serving_operations(
    context: dg.AssetExecutionContext, warehouse: Warehouse
) -> dg.MaterializeResult:
    """Requests, latency percentiles, error and fallback rates of the day's predictions (from the log)."""
    settings = get_settings()
    day = dt.date.fromisoformat(context.partition_key)
    row = ops_mod.operations(read_predictions(settings, day, day))
    with warehouse.connect() as conn:
        replace_day(conn, "operations", day, row.assign(computed_at=utc_now()))
    if row.empty:
        return _skipped("serving_operations", ["latency_and_fallbacks"], "no logged predictions")
    values = row.iloc[0].to_dict()
    slow = values["latency_p95_ms"] > settings.monitoring_latency_p95_ms
    falling = values["fallback_rate"] > settings.monitoring_fallback_rate_warn
    return dg.MaterializeResult(
        metadata=_meta({k: (int(v) if isinstance(v, int) else v) for k, v in values.items()}),
        check_results=[
            dg.AssetCheckResult(
                asset_key="serving_operations",
                check_name="latency_and_fallbacks",
                passed=not (slow or falling),
                severity=dg.AssetCheckSeverity.WARN,
                metadata=_meta(
                    {
                        "latency_p95_ms": values["latency_p95_ms"],
                        "fallback_rate": values["fallback_rate"],
                    }
                ),  # fmt: skip
            )
        ],
    )


# ---------------------------------------------------------------------------- overview
@dg.asset(
    group_name=GROUP,
    deps=[
        feature_drift,
        prediction_drift,
        live_performance,
        performance_estimate,
        serving_operations,
        training_serving_skew,
    ],  # fmt: skip
    pool=POOL,
    kinds={"matplotlib"},
)
def monitoring_overview(warehouse: Warehouse) -> dg.MaterializeResult:
    """Drift share, live AUC, positive rate and fallback rate over time, model versions marked."""
    settings = get_settings()
    with warehouse.connect() as conn:
        frame = overview_frame(conn)
        costs = read_variant_costs(settings, conn, FIRST_COST_DAY, LAST_COST_DAY)
    png = overview_png(frame)
    path = Path(settings.reports_dir) / "monitoring_overview.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    image = base64.b64encode(png).decode()
    latest = frame.ffill().iloc[-1].to_dict() if len(frame) else {}
    return dg.MaterializeResult(
        metadata=_meta(
            {
                "overview": dg.MetadataValue.md(
                    f"![monitoring overview](data:image/png;base64,{image})"
                ),
                "overview_png": dg.MetadataValue.path(str(path)),
                "days": len(frame),
                "latest_drift_share": latest.get("drift_share"),
                "latest_live_roc_auc": latest.get("roc_auc"),
                "latest_positive_rate": latest.get("positive_rate"),
                "latest_fallback_rate": latest.get("fallback_rate"),
                "cost_per_variant": _md(costs),  # realised and estimated (monitoring/cost.py)
            }
        )
    )


DAILY_ASSETS = [data_quality, feature_drift, prediction_drift, performance_estimate,
                live_performance, training_serving_skew, serving_operations,
                live_feature_coverage]  # fmt: skip
ASSETS = [*DAILY_ASSETS, monitoring_overview]
