"""Dagster assets and checks of the monitoring group: one partition per monitored local day.

Each asset computes one signal per day, replaces that day's rows in the ``monitoring`` schema
and reports the headline numbers as metadata; checks carry warn/error severities from settings.
A run covers a range of days (single-run backfill policy): a catch-up monitors every new day in
one run, and a backfill from the UI fills history the same way. Dagster records one
materialization per partition with the run's metadata, so the metadata is the newest day's
headline plus a by-day table of the range; the check fails if any day failed and says which.
The day's prediction log, features and scores are read once per run and shared by the assets
(``Day``). Failing checks and flagged segments alert through ``mlsys_assets.alerts`` (once per
new failure, a recovery message when it clears). Every asset writes the warehouse, hence the
``warehouse`` pool.
"""

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd

from mlsys_assets.alerts.notifier import ERROR, WARN, Alert, Notifier
from mlsys_assets.business_cost import CostModel
from mlsys_assets.clock import utc_now
from mlsys_assets.features import FEATURE_VIEWS
from mlsys_assets.monitoring import coverage, measures, quality, skew
from mlsys_assets.monitoring import drift as drift_mod
from mlsys_assets.monitoring import operations as ops_mod
from mlsys_assets.monitoring import performance as perf
from mlsys_assets.monitoring import segments as segments_mod
from mlsys_assets.monitoring.cost import read_variant_costs
from mlsys_assets.monitoring.daily import day_scores, prediction_stats, reference_or_none
from mlsys_assets.monitoring.overview import (
    OVERVIEW_DESCRIPTION,
    OVERVIEW_PNG,
    SEGMENTS_PNG,
    overview_frame,
    overview_png,
    segment_frame,
    segment_heatmap_png,
)
from mlsys_assets.monitoring.prediction_log import local_time, read_feedback, read_predictions
from mlsys_assets.monitoring.reference import Reference, day_features
from mlsys_assets.monitoring.store import replace_day
from mlsys_assets.partitions import DAILY_2013
from mlsys_assets.resources.online_store import OnlineStore
from mlsys_assets.resources.run_settings import RunSettings
from mlsys_assets.resources.warehouse import Warehouse
from mlsys_assets.settings import Settings
from mlsys_assets.stream.freshness import read_freshness

FIRST_COST_DAY, LAST_COST_DAY = dt.date(2013, 1, 1), dt.date(2013, 12, 31)  # the replayed year

GROUP = "monitoring"
POOL = "warehouse"
FEATURE_KEYS = [dg.AssetKey(view.name) for view in FEATURE_VIEWS if view.partitioned]
RAW_KEYS = [dg.AssetKey("raw_flights"), dg.AssetKey("raw_weather")]
NO_REFERENCE = "no reference: no champion model yet and no MLSYS_MONITORING__REFERENCE_WINDOW"


@dataclass
class Check:
    """One day's outcome of one check."""

    passed: bool
    grade: str  # quality.OK / WARN / ERROR
    metadata: dict[str, object] = field(default_factory=dict)


@dataclass
class DayResult:
    """One day's headline metadata and checks; a run over a range combines them."""

    day: dt.date
    metadata: dict[str, object]
    checks: dict[str, Check] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)  # besides the checks (segments)


class RunLogs:
    """The prediction and feedback logs of a run's days, read once for the whole range: a read
    scans every log file, so reading per day and per asset made a week's run mostly reads."""

    def __init__(self, settings: Settings, start: dt.date, end: dt.date) -> None:
        self.settings, self.start, self.end = settings, start, end
        self._frames: dict[str, pd.DataFrame] = {}

    def _frame(self, name: str, read: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        if name not in self._frames:
            self._frames[name] = read()
        return self._frames[name]

    def predictions(self, day: dt.date, *, shadow: bool = False) -> pd.DataFrame:
        """The day's answers (or the challenger's shadow scores), as ``read_predictions``."""
        frame = self._frame(
            "shadow" if shadow else "answers",
            lambda: read_predictions(self.settings, self.start, self.end, shadow=shadow),
        )
        return frame[frame["flight_date"] == day].reset_index(drop=True)

    def feedback(self, request_ids: pd.Series) -> pd.DataFrame:
        """The last outcome posted for each of ``request_ids``."""
        frame = self._frame("feedback", lambda: read_feedback(self.settings))
        return frame[frame["request_id"].isin(set(request_ids))].reset_index(drop=True)


@dataclass
class Day:
    """What one day's computation needs; the day's log, features and scores are read once per
    run and shared by every asset of the run (steps run in one process)."""

    day: dt.date
    settings: Settings
    conn: duckdb.DuckDBPyConnection
    reference: Reference | None
    cache: dict[str, object] = field(default_factory=dict)
    from_end: int = 0  # 0: the newest day of the run
    logs: RunLogs | None = None  # the run's logs, read once for all its days

    def _once(self, name: str, compute: Callable[[], object]) -> object:
        if name not in self.cache:
            self.cache[name] = compute()
        return self.cache[name]

    @property
    def predictions(self) -> pd.DataFrame:
        logs = self.logs or RunLogs(self.settings, self.day, self.day)
        return self._once("predictions", lambda: logs.predictions(self.day))

    @property
    def features(self) -> pd.DataFrame:
        return self._once("features", lambda: day_features(self.conn, self.day, self.day))

    @property
    def scores(self) -> pd.DataFrame:
        """The day's scored flights (the log first; batch-scored features when nobody asked)."""
        assert self.reference is not None

        def compute() -> pd.DataFrame:
            features = self.features if self.predictions.empty else pd.DataFrame()
            return day_scores(self.reference, self.predictions, features)

        return self._once("scores", compute)

    @property
    def calibrator(self) -> object:
        return self._once("calibrator", lambda: perf.fit_calibrator(self.reference))

    @property
    def labelled(self) -> pd.DataFrame:
        """``scores`` with labels (feedback, else landed outcomes), calibrated probabilities
        and the local departure hour."""
        return self._once("labelled", lambda: self._label(self.scores))

    @property
    def shadow_labelled(self) -> pd.DataFrame:
        """The challenger's shadow scores of the day (variant ``shadow``, never told to anyone),
        labelled the same way: their own variant in the business cost."""

        def compute() -> pd.DataFrame:
            logs = self.logs or RunLogs(self.settings, self.day, self.day)
            shadow = logs.predictions(self.day, shadow=True)
            if shadow.empty:
                return pd.DataFrame()
            return self._label(day_scores(self.reference, shadow, pd.DataFrame()))

        return self._once("shadow_labelled", compute)

    def _label(self, scores: pd.DataFrame) -> pd.DataFrame:
        if scores.empty:
            return scores.assign(**{perf.LABEL: [], measures.CALIBRATED: [], "hour": []})
        logs = self.logs or RunLogs(self.settings, self.day, self.day)
        feedback = logs.feedback(scores["request_id"].dropna())
        out = perf.attach_labels(self.conn, self.settings, scores, feedback)
        raw = out[perf.SCORE].to_numpy(dtype="float64")
        calibrator = self.calibrator
        out[measures.CALIBRATED] = (
            calibrator.predict(raw) if calibrator is not None else raw.clip(0, 1)
        )
        out["hour"] = pd.to_datetime(local_time(out["scheduled_departure"])).dt.hour
        return out


# Per run, per day and reference: what Day reads once (a run's steps share one process).
_RUN_CACHE: dict[tuple[str, dt.date, str | None], dict[str, object]] = {}
_RUN_REFERENCE: dict[str, object] = {}
_RUN_LOGS: dict[str, RunLogs] = {}


def monitored_days(context: dg.AssetExecutionContext) -> list[dt.date]:
    """The days of the run: one partition, or a range (a catch-up or a backfill, one run)."""
    keys = context.partition_key_range
    start, end = dt.date.fromisoformat(keys.start), dt.date.fromisoformat(keys.end)
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


@contextmanager
def open_days(
    context: dg.AssetExecutionContext, warehouse: Warehouse, run_settings: RunSettings
) -> Iterator[tuple[Settings, list[Day]]]:
    """The run's settings and days, on one warehouse connection."""
    settings = run_settings.resolve()
    days = monitored_days(context)
    run_id = context.run.run_id
    for key in [k for k in _RUN_CACHE if k[0] != run_id]:
        del _RUN_CACHE[key]  # an earlier run's frames
    with warehouse.connect() as conn:
        # The champion is resolved once per run (a registry lookup and a model load each time
        # cost more than most assets' work): every asset of a run judges against the same one.
        if _RUN_REFERENCE.get("run_id") != run_id:
            _RUN_REFERENCE.clear()
            _RUN_REFERENCE.update(run_id=run_id, reference=reference_or_none(conn, settings))
        reference = _RUN_REFERENCE["reference"]
        ref_id = reference.reference_id if reference is not None else None
        logs = _RUN_LOGS.get(run_id)
        if logs is None or (logs.start, logs.end) != (days[0], days[-1]):
            _RUN_LOGS.clear()
            logs = _RUN_LOGS[run_id] = RunLogs(settings, days[0], days[-1])
        yield (
            settings,
            [
                Day(
                    d,
                    settings,
                    conn,
                    reference,
                    _RUN_CACHE.setdefault((run_id, d, ref_id), {}),
                    from_end=len(days) - 1 - i,
                    logs=logs,
                )
                for i, d in enumerate(days)
            ],  # fmt: skip
        )


def run_days(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    run_settings: RunSettings,
    compute: Callable[[Day], DayResult],
    headline: list[str],
) -> dg.MaterializeResult:
    """``compute`` each day of the run, then one result: the newest day's metadata, a by-day
    table of the ``headline`` values when the run covers several days, each check failed if
    it failed on any day, and the alerts of the checks (one per new failure, recovery when it
    clears)."""
    with open_days(context, warehouse, run_settings) as (settings, days):
        results = [compute(d) for d in days]
    asset = context.asset_key.to_user_string()
    return combine(asset, results, headline, settings)


def combine(
    asset: str, results: list[DayResult], headline: list[str], settings: Settings
) -> dg.MaterializeResult:
    newest = results[-1]
    metadata = dict(newest.metadata)
    metadata["day"] = newest.day.isoformat()
    if len(results) > 1:
        metadata["days_monitored"] = len(results)
        metadata["range"] = f"{results[0].day}..{newest.day}"
        table = pd.DataFrame(
            [{"day": r.day.isoformat(), **{k: _plain(r.metadata.get(k)) for k in headline}}
             for r in results]
        )  # fmt: skip
        metadata["by_day"] = _md(table, rows=len(table))
    names = list(dict.fromkeys(n for r in results for n in r.checks))
    check_results = []
    for name in names:
        per_day = [(r.day, r.checks[name]) for r in results if name in r.checks]
        failing = [(d, c) for d, c in per_day if not c.passed]
        if failing:
            _, worst = max(failing, key=lambda dc: (GRADE_RANK[dc[1].grade], dc[0]))
            shown = {**worst.metadata, "failing_days": ", ".join(str(d) for d, _ in failing)}
        else:
            worst, shown = per_day[-1][1], per_day[-1][1].metadata
        check_results.append(
            dg.AssetCheckResult(
                asset_key=asset,
                check_name=name,
                passed=not failing,
                severity=_severity(worst.grade),
                metadata=_meta(shown),
            )
        )
    notify(settings, asset, results)
    return dg.MaterializeResult(metadata=_meta(metadata), check_results=check_results)


def notify(settings: Settings, asset: str, results: list[DayResult]) -> None:
    """Day by day, in order: fire each failing check, resolve each passing one, and sync the
    day's segment alerts, so a bad day inside a range alerts once and its end recovers."""
    notifier = Notifier.from_settings(settings)
    for result in results:
        if any("skipped" in c.metadata for c in result.checks.values()):
            continue  # nothing was measured that day: nothing failed, nothing cleared
        if asset == SEGMENT_ASSET:  # its alerts are per segment: the check would repeat them
            notifier.sync("segment:", result.alerts)
            continue
        for name, check in result.checks.items():
            key = f"check:{asset}:{name}"
            if check.passed:
                notifier.resolve(key)
                continue
            notifier.fire(
                Alert(
                    key=key,
                    severity=ERROR if check.grade == quality.ERROR else WARN,
                    title=f"{asset}: check {name} failed on {result.day}",
                    detail=_summary(check.metadata),
                    link=_link(result.metadata) or _link(check.metadata),
                )
            )


def _summary(metadata: dict[str, object]) -> str:
    parts = [f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
             for k, v in metadata.items() if isinstance(v, int | float | str)]  # fmt: skip
    return ", ".join(parts)[:500]


GRADE_RANK = {quality.OK: 0, quality.WARN: 1, quality.ERROR: 2}


def _plain(value: object) -> object:
    return None if isinstance(value, dg.MetadataValue) else value


def _link(metadata: dict[str, object]) -> str | None:
    url = metadata.get("report_url")
    return url.value if isinstance(url, dg.UrlMetadataValue) else None


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


def _skipped(checks: list[str], day: dt.date, reason: str) -> DayResult:
    return DayResult(
        day, {"status": reason}, {c: Check(True, quality.OK, {"skipped": reason}) for c in checks}
    )


def daily(**kwargs: object) -> Callable:
    """A monitoring asset: daily partitions, a range in one run, the ``warehouse`` pool."""
    return dg.asset(
        group_name=GROUP,
        partitions_def=DAILY_2013,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=POOL,
        **kwargs,
    )


# ---------------------------------------------------------------------------- data quality
DQ_CHECKS = {
    quality.MISSING: "missing_values",
    quality.RANGE: "value_ranges",
    quality.NEW_CATEGORY: "unseen_categories",
    quality.VOLUME: "volume",
}


@daily(
    deps=[*RAW_KEYS, *FEATURE_KEYS],
    kinds={"duckdb"},
    check_specs=[
        dg.AssetCheckSpec(name, asset="data_quality", description=f"Data quality: {kind}.")
        for kind, name in DQ_CHECKS.items()
    ],
)
def data_quality(
    context: dg.AssetExecutionContext, warehouse: Warehouse, run_settings: RunSettings
) -> dg.MaterializeResult:
    """Missing shares, range violations, unseen categories and volume of the day's sources and features."""
    return run_days(context, warehouse, run_settings, _data_quality_day,
                    ["flights", "findings_warn", "findings_error"])  # fmt: skip


def _data_quality_day(d: Day) -> DayResult:
    if d.reference is None:
        return _skipped(list(DQ_CHECKS.values()), d.day, NO_REFERENCE)
    features = d.features
    findings = quality.data_quality(d.conn, d.settings, d.reference, d.day, features)
    replace_day(d.conn, "data_quality", d.day, findings.assign(computed_at=utc_now()))
    checks = {}
    for kind, name in DQ_CHECKS.items():
        passed, worst, rows = quality.check_summary(findings, kind)
        shown = rows[["source", "column_name", "value", "severity", "detail"]]
        checks[name] = Check(passed, worst,
                             {"findings": len(rows), "worst": worst, "details": _md(shown)})  # fmt: skip
    bad = findings[findings["severity"] != quality.OK]
    metadata = {
        "flights": len(features),
        "findings_warn": int((bad["severity"] == quality.WARN).sum()),
        "findings_error": int((bad["severity"] == quality.ERROR).sum()),
        "findings": _md(
            bad[["source", "column_name", "check_name", "value", "severity", "detail"]]
        ),
        "reference": d.reference.reference_id,
    }
    return DayResult(d.day, metadata, checks)


# ---------------------------------------------------------------------------- drift
@daily(
    deps=FEATURE_KEYS,
    kinds={"evidently", "duckdb"},
    check_specs=[
        dg.AssetCheckSpec(
            "drift_share",
            asset="feature_drift",
            description="Share of drifted features against the champion's training reference.",
        )
    ],
)
def feature_drift(
    context: dg.AssetExecutionContext, warehouse: Warehouse, run_settings: RunSettings
) -> dg.MaterializeResult:
    """Per-feature and prediction drift of the day against the champion's training data (Evidently)."""
    return run_days(context, warehouse, run_settings, _feature_drift_day,
                    ["drift_share", "drifted_features", "prediction_drift_score", "rows"])  # fmt: skip


def _feature_drift_day(d: Day) -> DayResult:
    if d.reference is None:
        return _skipped(["drift_share"], d.day, NO_REFERENCE)
    features = d.features
    scores = d.scores
    source = str(scores["source"].iloc[0]) if len(scores) else None
    predicted = scores[perf.SCORE] if len(scores) else None
    result = drift_mod.compute_drift(d.reference, features, predicted)
    path = drift_mod.report_path(d.settings.reports_dir, d.day)
    last = d.settings.monitoring.report_last_days
    if len(features) and (last is None or d.from_end < last):
        drift_mod.write_report(d.reference, _report_frame(features, scores), result,
                               path, max_columns=d.settings.monitoring.report_max_columns)  # fmt: skip
    stamp = utc_now()
    base = {"reference_id": d.reference.reference_id, "model_version": d.reference.model.version}
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
        d.settings.monitoring.drift_share_warn,
        d.settings.monitoring.drift_share_error,
    )
    report = {}
    if path.exists():
        # Over HTTP (the report server started with the UIs): a browser refuses a file:// link
        # from an http:// page. The path stays for whoever reads the files directly.
        report = {"report_url": dg.MetadataValue.url(report_url(d.settings, path)),
                  "report": dg.MetadataValue.path(str(path))}  # fmt: skip
    top = result.top(10)[["feature", "method", "score", "threshold", "drifted"]]
    metadata = {
        **report,
        "drift_share": result.drift_share,
        "drifted_features": result.n_drifted,
        "features": result.n_features,
        "prediction_drift_score": result.prediction_score,
        "prediction_drifted": str(result.prediction_drifted),
        "rows": result.rows,
        "top_drifted": _md(top),
        "reference": d.reference.reference_id,
    }
    check = Check(passed, worst, {"drift_share": result.drift_share, "top_drifted": _md(top, 5),
                                  **report})  # fmt: skip
    return DayResult(d.day, metadata, {"drift_share": check})


def report_url(settings: Settings, path: Path) -> str:
    """The report's address on the report server (``reports_dir`` served at its root)."""
    relative = path.resolve().relative_to(settings.reports_dir.resolve())
    return f"{settings.reports_url}/{relative.as_posix()}"


def _report_frame(current: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """The frame rendered in the report: the day's features beside its scores (NaN-padded)."""
    logged = scores[perf.SCORE].reset_index(drop=True)
    frame = current.reset_index(drop=True)
    n = max(len(frame), len(logged))
    frame = frame.reindex(range(n))
    frame[perf.SCORE] = logged.reindex(range(n)).to_numpy()
    return frame


# ---------------------------------------------------------------------------- predictions
@daily(deps=FEATURE_KEYS, kinds={"duckdb"})
def prediction_drift(
    context: dg.AssetExecutionContext, warehouse: Warehouse, run_settings: RunSettings
) -> dg.MaterializeResult:
    """Score distribution and positive rate of the day's predictions, per variant, beside the reference's."""
    return run_days(context, warehouse, run_settings, _prediction_drift_day,
                    ["predictions", "mean_score", "positive_rate"])  # fmt: skip


def _prediction_drift_day(d: Day) -> DayResult:
    if d.reference is None:
        return DayResult(d.day, {"status": NO_REFERENCE})
    stats = prediction_stats(d.scores, d.reference)
    replace_day(d.conn, "prediction_drift", d.day, stats.assign(computed_at=utc_now()))
    if stats.empty:
        return DayResult(d.day, {"status": "no predictions"})
    total = stats.iloc[0]
    return DayResult(
        d.day,
        {
            "source": str(total["source"]),
            "predictions": int(total["n"]),
            "mean_score": total["mean_score"],
            "positive_rate": total["positive_rate"],
            "reference_positive_rate": total["reference_positive_rate"],
            "by_variant": _md(stats.drop(columns=["source"])),
        },
    )


@daily(deps=FEATURE_KEYS, kinds={"duckdb"})
def performance_estimate(
    context: dg.AssetExecutionContext, warehouse: Warehouse, run_settings: RunSettings
) -> dg.MaterializeResult:
    """Precision, recall and ROC AUC estimated before labels arrive, from calibrated confidence (CBPE)."""
    return run_days(context, warehouse, run_settings, _performance_estimate_day,
                    ["est_roc_auc", "est_precision", "est_recall", "predictions"])  # fmt: skip


def _performance_estimate_day(d: Day) -> DayResult:
    if d.reference is None or d.reference.bundle is None:
        reason = NO_REFERENCE if d.reference is None else "no champion model to calibrate"
        return DayResult(d.day, {"status": reason})
    scores = d.scores
    calibrator = d.calibrator
    threshold = float(scores["threshold"].median()) if len(scores) else d.reference.model.threshold
    estimate = perf.estimate_performance(scores[perf.SCORE].to_numpy(), threshold, calibrator)
    row = {"source": scores["source"].iloc[0] if len(scores) else "none",
           "model_version": d.reference.model.version, "n": len(scores),
           "threshold": threshold, **estimate, "computed_at": utc_now()}  # fmt: skip
    replace_day(d.conn, "performance_estimate", d.day, pd.DataFrame([row]))
    return DayResult(d.day, {**estimate, "predictions": len(scores),
                             "calibrated": str(calibrator is not None)})  # fmt: skip


@daily(
    deps=[dg.AssetKey("raw_flights"), performance_estimate],
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
    context: dg.AssetExecutionContext, warehouse: Warehouse, run_settings: RunSettings
) -> dg.MaterializeResult:
    """Realised precision, recall, ROC AUC, Brier and calibration per variant, once outcomes are known."""
    return run_days(context, warehouse, run_settings, _live_performance_day,
                    ["live_roc_auc", "estimated_roc_auc", "labelled", "label_coverage"])  # fmt: skip


def _live_performance_day(d: Day) -> DayResult:
    if d.reference is None:
        return _skipped(["live_roc_auc"], d.day, NO_REFERENCE)
    if d.scores.empty:
        return _skipped(["live_roc_auc"], d.day, "no predictions for this day")
    labelled = d.labelled
    table = perf.live_metrics(labelled)
    estimate = d.conn.execute(
        "SELECT est_precision, est_recall, est_roc_auc FROM monitoring.performance_estimate "
        "WHERE day = ? ORDER BY computed_at DESC LIMIT 1",
        [d.day],
    ).fetchone() if _has_table(d.conn, "performance_estimate") else None  # fmt: skip
    est = dict(
        zip(["est_precision", "est_recall", "est_roc_auc"], estimate or (None,) * 3, strict=True)
    )
    for key, value in est.items():
        table[key] = [value if v == "all" else None for v in table["variant"]]
    stamp = utc_now()
    table["source"] = d.scores["source"].iloc[0]
    replace_day(d.conn, "live_performance", d.day, table.assign(computed_at=stamp))
    known = labelled[labelled[perf.LABEL].notna()]
    calibration = pd.concat(
        [
            perf.calibration_table(part[perf.LABEL].to_numpy(), part[perf.SCORE].to_numpy()).assign(
                variant=v
            )
            for v, part in [("all", known), *known.groupby("variant")]
        ]
    )
    replace_day(d.conn, "calibration", d.day, calibration.assign(computed_at=stamp))
    total = table.iloc[0]
    enough = int(total["labelled"]) >= d.settings.monitoring.min_labelled
    auc = _num(total["roc_auc"])
    floor = d.settings.registry.gate_min_roc_auc
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
    check = Check(passed, quality.OK if passed else quality.WARN,
                  {"live_roc_auc": auc, "floor": floor, "labelled": int(total["labelled"]),
                   "enough_labels": str(enough)})  # fmt: skip
    return DayResult(d.day, metadata, {"live_roc_auc": check})


def _has_table(conn: duckdb.DuckDBPyConnection, table: str) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'monitoring' "
        "AND table_name = ?",
        [table],
    ).fetchone()
    return bool(row and row[0])


# ---------------------------------------------------------------------------- confidence, balance, cost
@daily(deps=FEATURE_KEYS, kinds={"duckdb"})
def prediction_confidence(
    context: dg.AssetExecutionContext, warehouse: Warehouse, run_settings: RunSettings
) -> dg.MaterializeResult:
    """How sure the model is: score quantiles, a histogram, and the share of answers within
    ``MLSYS_MONITORING__CONFIDENCE_BAND`` of the decision threshold, per variant."""
    return run_days(context, warehouse, run_settings, _confidence_day,
                    ["near_threshold_share", "p50", "mean_margin", "predictions"])  # fmt: skip


def _confidence_day(d: Day) -> DayResult:
    if d.reference is None:
        return DayResult(d.day, {"status": NO_REFERENCE})
    table = measures.confidence(d.scores, d.settings.monitoring.confidence_band)
    source = str(d.scores["source"].iloc[0]) if len(d.scores) else None
    replace_day(d.conn, "confidence", d.day, table.assign(source=source, computed_at=utc_now()))
    if table.empty:
        return DayResult(d.day, {"status": "no predictions"})
    total = table.iloc[0]
    return DayResult(d.day, {
        "predictions": int(total["n"]),
        "near_threshold_share": total["near_threshold_share"],
        "mean_margin": total["mean_margin"],
        "p05": total["p05"], "p50": total["p50"], "p95": total["p95"],
        "band": d.settings.monitoring.confidence_band,
        "by_variant": _md(table.drop(columns=["histogram"])),
        "histogram_all": str(total["histogram"]),
    })  # fmt: skip


@daily(deps=[dg.AssetKey("raw_flights"), *FEATURE_KEYS], kinds={"duckdb"})
def class_balance(
    context: dg.AssetExecutionContext, warehouse: Warehouse, run_settings: RunSettings
) -> dg.MaterializeResult:
    """Predicted positive rate against the realised delay rate (once labels land), the expected
    rate before labels and the training delay rate, per variant."""
    return run_days(context, warehouse, run_settings, _class_balance_day,
                    ["predicted_positive_rate", "expected_delay_rate", "realised_delay_rate"])  # fmt: skip


def _class_balance_day(d: Day) -> DayResult:
    if d.reference is None:
        return DayResult(d.day, {"status": NO_REFERENCE})
    train = d.reference.train
    rate = float(train[perf.LABEL].mean()) if perf.LABEL in train and len(train) else None
    table = measures.class_balance(d.labelled, rate)
    source = str(d.scores["source"].iloc[0]) if len(d.scores) else None
    replace_day(d.conn, "class_balance", d.day, table.assign(source=source, computed_at=utc_now()))
    if table.empty:
        return DayResult(d.day, {"status": "no predictions"})
    total = table.iloc[0]
    return DayResult(d.day, {
        "predicted_positive_rate": total["predicted_positive_rate"],
        "expected_delay_rate": total["expected_delay_rate"],
        "realised_delay_rate": total["realised_delay_rate"],
        "training_delay_rate": total["training_delay_rate"],
        "labelled": int(total["labelled"]),
        "by_variant": _md(table),
    })  # fmt: skip


@daily(deps=[dg.AssetKey("raw_flights"), *FEATURE_KEYS], kinds={"duckdb"})
def business_cost(
    context: dg.AssetExecutionContext, warehouse: Warehouse, run_settings: RunSettings
) -> dg.MaterializeResult:
    """What the day's decisions cost, per variant: realised on labelled flights, expected
    (calibrated probabilities) on all of them, priced by ``MLSYS_COST_*``."""
    return run_days(context, warehouse, run_settings, _business_cost_day,
                    ["realised_cost_per_flight", "expected_cost_per_flight", "labelled"])  # fmt: skip


def _business_cost_day(d: Day) -> DayResult:
    if d.reference is None:
        return DayResult(d.day, {"status": NO_REFERENCE})
    both = pd.concat([d.labelled, d.shadow_labelled], ignore_index=True)
    table = measures.business_cost(both, CostModel.from_settings(d.settings))
    source = str(d.scores["source"].iloc[0]) if len(d.scores) else None
    replace_day(d.conn, "business_cost", d.day, table.assign(source=source, computed_at=utc_now()))
    if table.empty:
        return DayResult(d.day, {"status": "no predictions"})
    total = table.iloc[0]
    return DayResult(d.day, {
        "realised_cost": total["realised_cost"],
        "realised_cost_per_flight": total["realised_cost_per_flight"],
        "expected_cost": total["expected_cost"],
        "expected_cost_per_flight": total["expected_cost_per_flight"],
        "missed_delays": int(total["missed_delays"]),
        "false_alarms": int(total["false_alarms"]),
        "labelled": int(total["labelled"]),
        "by_variant": _md(table),
    })  # fmt: skip


# ---------------------------------------------------------------------------- segments
SEGMENT_ASSET = "segment_performance"


@daily(
    deps=[dg.AssetKey("raw_flights"), *FEATURE_KEYS],
    kinds={"duckdb"},
    check_specs=[
        dg.AssetCheckSpec(
            "segments_healthy",
            asset=SEGMENT_ASSET,
            description="No carrier, origin or departure-hour band flagged (Holm-corrected).",
        )
    ],
)
def segment_performance(
    context: dg.AssetExecutionContext, warehouse: Warehouse, run_settings: RunSettings
) -> dg.MaterializeResult:
    """Per carrier, origin and departure-hour band: volume, live and estimated AUC, calibration
    and score drift, tested against the rest of the day with a correction for testing many
    segments at once; each flagged segment alerts once (``segment:<dimension>=<value>``)."""
    return run_days(
        context, warehouse, run_settings, _segments_day, ["segments", "tested", "flagged"]
    )


def _segments_day(d: Day) -> DayResult:
    if d.reference is None or d.reference.bundle is None:
        return _skipped(["segments_healthy"], d.day, NO_REFERENCE)
    labelled = d.labelled
    ref = d.reference.train
    reference = ref.assign(hour=ref["hour"]) if "hour" in ref else ref.assign(hour=None)
    rules = segments_mod.SegmentRules.from_settings(d.settings)
    history = pd.DataFrame()
    if _has_table(d.conn, "segments"):
        history = d.conn.execute(
            "SELECT day, dimension, segment, shift_z, calibration_z, significant "
            "FROM monitoring.segments "
            "WHERE day >= ? AND day < ?",
            [d.day - dt.timedelta(days=rules.history_days), d.day],
        ).df()
    table = segments_mod.segment_table(measures.answered(labelled), reference, rules, history)
    source = str(d.scores["source"].iloc[0]) if len(d.scores) else None
    replace_day(d.conn, "segments", d.day, table.assign(source=source, computed_at=utc_now()))
    flagged = table[table["flagged"].astype(bool)] if len(table) else table
    tested = int((table["p_adjusted"].notna()).sum()) if len(table) else 0
    alerts = [
        Alert(
            key=f"segment:{row.dimension}={row.segment}",
            severity=ERROR,
            title=f"segment {row.dimension}={row.segment} flagged on {d.day}",
            detail=f"{row.reason} (n={row.n}, corrected p={row.p_adjusted:.2g})",
        )
        for row in flagged.itertuples()
    ]
    shown = ["dimension", "segment", "n", "labelled", "mean_score", "observed_rate",
             "expected_rate", "roc_auc", "shift", "calibration_gap", "p_adjusted", "reason"]  # fmt: skip
    metadata = {
        "segments": len(table),
        "tested": tested,
        "flagged": len(flagged),
        "flagged_segments": ", ".join(f"{r.dimension}={r.segment}" for r in flagged.itertuples())
        or "none",
        "table": _md(table[shown] if len(table) else table, rows=40),
    }
    check = Check(flagged.empty, quality.OK if flagged.empty else quality.ERROR,
                  {"flagged": len(flagged), "flagged_segments": metadata["flagged_segments"]})  # fmt: skip
    return DayResult(d.day, metadata, {"segments_healthy": check}, alerts)


# ---------------------------------------------------------------------------- skew
@daily(
    deps=FEATURE_KEYS,
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
    context: dg.AssetExecutionContext, warehouse: Warehouse, run_settings: RunSettings
) -> dg.MaterializeResult:
    """Mismatch rate per feature between the features served online and the offline point-in-time values."""
    return run_days(context, warehouse, run_settings, _skew_day,
                    ["skew_max_mismatch_rate", "skewed_features", "compared_predictions"])  # fmt: skip


def _skew_day(d: Day) -> DayResult:
    table, _ = skew.compare(d.conn, d.predictions)
    replace_day(d.conn, "skew", d.day, table.assign(computed_at=utc_now()))
    compared = int(table["compared"].max()) if len(table) else 0
    worst = float(table["mismatch_rate"].max()) if len(table) else 0.0
    passed, grade = _graded(
        worst, d.settings.monitoring.skew_warn, d.settings.monitoring.skew_error
    )
    offending = table[table["mismatches"] > 0].sort_values("mismatch_rate", ascending=False)
    metadata = {
        "skew_max_mismatch_rate": worst,
        "skewed_features": len(offending),
        "compared_predictions": compared,
        "mismatches": _md(offending[["feature", "mismatches", "mismatch_rate", "example"]]),
    }
    return DayResult(d.day, metadata, {"online_offline_parity": Check(passed, grade, metadata)})


# ---------------------------------------------------------------------------- coverage
@daily(
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
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    online_store: OnlineStore,
    run_settings: RunSettings,
) -> dg.MaterializeResult:
    """Per feature, the share of the day's live requests that missed it, against training; and
    the online store's freshness (event to visible online, per streamed source)."""
    try:
        freshness = read_freshness(online_store.read_state())
    except Exception:  # noqa: BLE001 - the store is down: coverage is still measured
        freshness = {}
    lag = {f"freshness_{t}_p99_ms": v.get("p99_ms") for t, v in freshness.items()}
    lag |= {f"freshness_{t}_p50_ms": v.get("p50_ms") for t, v in freshness.items()}

    def one_day(d: Day) -> DayResult:
        predictions = d.predictions
        reference = d.reference
        offline = skew.offline_features(d.conn, predictions) if len(predictions) else None
        table = coverage.feature_coverage(
            predictions, reference.train if reference is not None else None, offline
        )
        replace_day(d.conn, "feature_coverage", d.day, table.assign(computed_at=utc_now()))
        if table.empty:
            return _skipped(["live_missing_features"], d.day, "no predictions")
        worst = table.iloc[0]
        passed, grade = _graded(
            float(worst["excess"]),
            d.settings.monitoring.live_missing_warn,
            d.settings.monitoring.live_missing_error,
        )
        metadata = {
            "requests": int(worst["requests"]),
            "worst_feature": str(worst["feature"]),
            "worst_excess_missing": float(worst["excess"]),
            "mean_live_missing_share": float(table["live_missing_share"].mean()),
            "features": _md(table, rows=20),
            **lag,
        }
        return DayResult(d.day, metadata, {"live_missing_features": Check(passed, grade, metadata)})

    return run_days(context, warehouse, run_settings, one_day,
                    ["requests", "worst_feature", "worst_excess_missing"])  # fmt: skip


# ---------------------------------------------------------------------------- operations
@daily(
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
    context: dg.AssetExecutionContext, warehouse: Warehouse, run_settings: RunSettings
) -> dg.MaterializeResult:
    """Requests, latency percentiles, error and fallback rates of the day's predictions (from the log)."""
    return run_days(context, warehouse, run_settings, _operations_day,
                    ["requests", "latency_p95_ms", "fallback_rate", "error_rate"])  # fmt: skip


def _operations_day(d: Day) -> DayResult:
    row = ops_mod.operations(d.predictions)
    replace_day(d.conn, "operations", d.day, row.assign(computed_at=utc_now()))
    if row.empty:
        return _skipped(["latency_and_fallbacks"], d.day, "no logged predictions")
    values = row.iloc[0].to_dict()
    slow = values["latency_p95_ms"] > d.settings.monitoring.latency_p95_ms
    falling = values["fallback_rate"] > d.settings.monitoring.fallback_rate_warn
    passed = not (slow or falling)
    check = Check(passed, quality.OK if passed else quality.WARN,
                  {"latency_p95_ms": values["latency_p95_ms"],
                   "fallback_rate": values["fallback_rate"]})  # fmt: skip
    metadata = {k: (int(v) if isinstance(v, int) else v) for k, v in values.items()}
    return DayResult(d.day, metadata, {"latency_and_fallbacks": check})


@daily(
    kinds={"duckdb"},
    deps=[serving_operations],
    check_specs=[
        dg.AssetCheckSpec(
            "error_budget",
            asset="serving_availability",
            description="Availability error budget of the rolling window not spent.",
        ),  # fmt: skip
    ],
)
def serving_availability(
    context: dg.AssetExecutionContext, warehouse: Warehouse, run_settings: RunSettings
) -> dg.MaterializeResult:
    """Share of successful answers and p50/p99 latency against the serving objectives
    (``MLSYS_SLO_*``), with the error and latency budgets left over the rolling window."""
    return run_days(context, warehouse, run_settings, _availability_day,
                    ["availability", "latency_p99_ms", "error_budget_left",
                     "latency_budget_left"])  # fmt: skip


def _availability_day(d: Day) -> DayResult:
    window_start = d.day - dt.timedelta(days=d.settings.monitoring.slo_window_days - 1)
    history = pd.DataFrame()
    if _has_table(d.conn, "availability"):
        history = d.conn.execute(
            "SELECT requests, failed, slow FROM monitoring.availability WHERE day >= ? AND day < ?",
            [window_start, d.day],
        ).df()
    row = measures.availability(
        d.predictions,
        history,
        objective=d.settings.monitoring.slo_availability,
        latency_p99_ms=d.settings.monitoring.slo_latency_p99_ms,
    )
    frame = pd.DataFrame([row]) if row else pd.DataFrame()
    replace_day(d.conn, "availability", d.day, frame.assign(computed_at=utc_now()))
    if row is None:
        return _skipped(["error_budget"], d.day, "no logged predictions")
    left = row["error_budget_left"]
    passed = left is None or left >= 0.0
    check = Check(passed, quality.OK if passed else quality.ERROR,
                  {"error_budget_left": left, "window_availability": row["window_availability"],
                   "objective": row["availability_objective"]})  # fmt: skip
    return DayResult(d.day, row, {"error_budget": check})


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
        segment_performance,
        prediction_confidence,
        class_balance,
        business_cost,
        serving_availability,
    ],  # fmt: skip
    pool=POOL,
    kinds={"matplotlib"},
    description=OVERVIEW_DESCRIPTION,
)
def monitoring_overview(warehouse: Warehouse, run_settings: RunSettings) -> dg.MaterializeResult:
    """Drift share, live AUC, positive rate and fallback rate over time, model versions marked;
    and the segment heat map (segment x day)."""
    settings = run_settings.resolve()
    with warehouse.connect() as conn:
        frame = overview_frame(conn)
        heat = segment_frame(conn)
        costs = read_variant_costs(settings, conn, FIRST_COST_DAY, LAST_COST_DAY)
    folder = Path(settings.reports_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / OVERVIEW_PNG
    path.write_bytes(overview_png(frame))
    heat_path = folder / SEGMENTS_PNG
    heat_path.write_bytes(segment_heatmap_png(heat))
    latest = frame.ffill().iloc[-1].to_dict() if len(frame) else {}
    overview_url, heat_url = report_url(settings, path), report_url(settings, heat_path)
    return dg.MaterializeResult(
        metadata=_meta(
            {
                # Markdown images by URL: the asset page shows them without a click.
                "overview": dg.MetadataValue.md(
                    f"![monitoring overview]({overview_url})\n\n![segments]({heat_url})"
                ),
                "overview_url": dg.MetadataValue.url(overview_url),
                "segments_url": dg.MetadataValue.url(heat_url),
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
                live_feature_coverage, prediction_confidence, class_balance, business_cost,
                segment_performance, serving_availability]  # fmt: skip
ASSETS = [*DAILY_ASSETS, monitoring_overview]
