"""What the demo prints at the end, and saves as ``MLSYS_HOME/demo_summary.json``.

Everything is read back from where the system keeps it (the Dagster instance, the MLflow
registry, the prediction log, the warehouse), not from what the demo remembers doing, so the
summary doubles as the end-to-end test's evidence.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from mlsys_assets.features.catalog import SERVED
from mlsys_assets.ingestion.run import RANGE_END_TAG, RANGE_START_TAG
from mlsys_assets.loop.jobs import REASON_TAG, SIGNAL_TAG
from mlsys_assets.model_contract import TAG_CANARY_DECISION, TAG_CANARY_REASON
from mlsys_assets.monitoring.performance import attach_labels
from mlsys_assets.monitoring.prediction_log import read_feedback, read_predictions, served_features
from mlsys_assets.monitoring.skew import offline_features
from mlsys_assets.nycflights import FIRST_DAY, LAST_DAY
from mlsys_assets.registry import aliases
from mlsys_assets.registry.store import load_version
from mlsys_assets.resources.tracking import Tracking
from mlsys_assets.resources.warehouse import Warehouse
from mlsys_assets.settings import Settings
from mlsys_assets.training.evaluate import predict

SENSOR_TAG = "dagster/sensor_name"


def _auc(y: pd.Series, p: pd.Series) -> float | None:
    return float(roc_auc_score(y, p)) if y.nunique() == 2 else None


def runs(instance: dg.DagsterInstance, job: str) -> list[dict[str, Any]]:
    out = []
    for run in reversed(instance.get_runs(dg.RunsFilter(job_name=job))):
        stats = instance.get_run_stats(run.run_id)
        out.append(
            {
                "run_id": run.run_id,
                "status": run.status.value,
                "sensor": run.tags.get(SENSOR_TAG),
                "reason": run.tags.get(REASON_TAG),
                "signal": run.tags.get(SIGNAL_TAG),
                "started": dt.datetime.fromtimestamp(stats.start_time).isoformat(timespec="seconds")
                if stats.start_time
                else None,
            }
        )
    return out


def failed_runs(instance: dg.DagsterInstance) -> list[dict[str, Any]]:
    """Every failed run of any job, with what it was for and the first line of its error."""
    out = []
    for run in reversed(instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))):
        failures = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
        failures = failures or instance.all_logs(
            run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE
        )
        message = ""
        for record in failures:
            event = record.dagster_event
            error = getattr(event.event_specific_data, "error", None) if event else None
            while error is not None and error.cause is not None:  # the user code's own error
                error = error.cause
            message = (error.message if error else record.message or "").strip()
            if message:
                break
        start, end = run.tags.get(RANGE_START_TAG), run.tags.get(RANGE_END_TAG)
        out.append(
            {
                "run_id": run.run_id,
                "job": run.job_name,
                "for": f"{start}..{end}" if start else run.tags.get("dagster/partition"),
                "reason": run.tags.get(REASON_TAG),
                "error": message.splitlines()[0][:200] if message else "(no error recorded)",
            }
        )
    return out


def versions(tracking: Tracking) -> list[dict[str, Any]]:
    client = tracking.client()
    state = aliases.current(tracking)
    out = []
    for mv in sorted(
        client.search_model_versions(f"name='{tracking.model_name}'"), key=lambda v: int(v.version)
    ):
        names = [a for a, v in state.items() if v == str(mv.version)]
        out.append(
            {
                "version": str(mv.version),
                "aliases": names,
                "quality_gate": mv.tags.get("quality_gate"),
                "test_window": mv.tags.get("test_window"),
                "canary_decision": mv.tags.get(TAG_CANARY_DECISION),
                "canary_reason": mv.tags.get(TAG_CANARY_REASON),
            }
        )
    return out


MONITORED_TABLES = ["drift_summary", "prediction_drift", "performance_estimate",
                    "live_performance", "confidence", "class_balance", "business_cost",
                    "availability", "segments", "feature_contributions"]  # fmt: skip


def monitored_days(warehouse: Warehouse) -> dict[str, Any]:
    """Which days each monitoring table holds, and the segments flagged (every live day should
    be there: a catch-up is monitored day by day, in one run)."""
    out: dict[str, Any] = {}
    with warehouse.connect(read_only=True) as conn:
        known = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'monitoring'"
        ).fetchall()}  # fmt: skip
        for table in MONITORED_TABLES:
            if table not in known:
                out[table] = []
                continue
            rows = conn.execute(f"SELECT DISTINCT day FROM monitoring.{table} ORDER BY day")
            out[table] = [r[0].isoformat() for r in rows.fetchall()]
        flagged = []
        if "segments" in known:
            flagged = (
                conn.execute(
                    "SELECT day, dimension || '=' || segment AS segment, reason "
                    "FROM monitoring.segments WHERE flagged ORDER BY day"
                )
                .df()
                .astype(str)
                .to_dict("records")
            )
    return {"days": out, "flagged_segments": flagged}


def monthly_auc(
    settings: Settings, warehouse: Warehouse, tracking: Tracking, first_champion: str | None
) -> list[dict[str, Any]]:
    """Live AUC per month of what was served, beside the first champion on the same flights."""
    predictions = read_predictions(settings, FIRST_DAY, LAST_DAY)
    if predictions.empty:
        return []
    with warehouse.connect(read_only=True) as conn:
        labelled = attach_labels(conn, settings, predictions, read_feedback(settings))
    labelled = labelled[labelled["label"].notna()].copy()
    if labelled.empty:
        return []
    if first_champion is not None:
        first = load_version(tracking, first_champion)
        labelled["first_champion"] = predict(first.booster, first.spec, served_features(labelled))
    else:
        labelled["first_champion"] = np.nan
    labelled["month"] = pd.to_datetime(labelled["flight_date"]).dt.strftime("%Y-%m")
    out = []
    for month, part in labelled.groupby("month"):
        out.append(
            {
                "month": month,
                "labelled": len(part),
                "auc_served": _auc(part["label"], part["delay_probability"]),
                "auc_first_champion": _auc(part["label"], part["first_champion"]),
                "versions_served": sorted(part["model_version"].astype(str).unique().tolist()),
            }
        )
    return out


def live_vs_offline(settings: Settings, warehouse: Warehouse, tracking: Tracking) -> dict[str, Any]:
    """The served model's live AUC beside its offline AUC on the same flights, and the live
    missing share of features beside the offline one at the same moments.

    Offline: the point-in-time training-set features of each logged flight at the moment serving
    looked it up, scored by the version that answered. Equal features give equal scores, so
    the two AUCs differ only where serving saw a different world than training does.
    """
    predictions = read_predictions(settings, FIRST_DAY, LAST_DAY)
    predictions = predictions[predictions["variant"] != "fallback"].reset_index(drop=True)
    if predictions.empty:
        return {}
    with warehouse.connect(read_only=True) as conn:
        offline = offline_features(conn, predictions)
        labelled = attach_labels(conn, settings, predictions, read_feedback(settings))
    live = served_features(predictions).reindex(columns=offline.columns)
    names = [f.name for f in SERVED.features]
    excess = (live[names].isna().mean() - offline[names].isna().mean()).sort_values()
    has_weather = offline["weather_temp"].notna()
    offline_p = pd.Series(np.nan, index=predictions.index)
    for version, rows in predictions.groupby(
        predictions["model_version"].astype(str)
    ).groups.items():
        model = load_version(tracking, version)
        offline_p[rows] = predict(model.booster, model.spec, offline.loc[rows])
    known = labelled["label"].notna().to_numpy()
    label = labelled["label"][known]
    return {
        "requests": len(predictions),
        "labelled": int(known.sum()),
        "auc_live": _auc(label, predictions["delay_probability"][known]),
        "auc_offline": _auc(label, offline_p[known]),
        "max_abs_score_diff": float((offline_p - predictions["delay_probability"]).abs().max()),
        "live_missing_share": float(live[names].isna().mean().mean()),
        "offline_missing_share": float(offline[names].isna().mean().mean()),
        "worst_excess_missing": {excess.index[-1]: round(float(excess.iloc[-1]), 4)},
        "weather_present_where_known": float(live.loc[has_weather, "weather_temp"].notna().mean())
        if has_weather.any()
        else None,
    }


def cost_per_variant(settings: Settings, warehouse: Warehouse) -> list[dict[str, Any]]:
    """Realised and estimated business cost per variant (shadow: the challenger on the
    champion's flights), in the units of ``MLSYS_COST_*``."""
    from mlsys_assets.monitoring.cost import read_variant_costs

    with warehouse.connect(read_only=True) as conn:
        table = read_variant_costs(settings, conn, dt.date(2013, 1, 1), dt.date(2013, 12, 31))
    table = table.astype(object).where(table.notna(), None)
    return table.to_dict("records")


def check_outcomes(instance: dg.DagsterInstance) -> dict[str, bool | None]:
    """The latest result of the reconciliation and parity checks."""
    wanted = {
        "raw_flights:reconciliation": dg.AssetCheckKey(
            dg.AssetKey("raw_flights"), "reconciliation"
        ),
        "raw_weather:reconciliation": dg.AssetCheckKey(
            dg.AssetKey("raw_weather"), "reconciliation"
        ),
        "online_features:online_offline_parity": dg.AssetCheckKey(
            dg.AssetKey("online_features"), "online_offline_parity"
        ),
        "live_feature_coverage:live_missing_features": dg.AssetCheckKey(
            dg.AssetKey("live_feature_coverage"), "live_missing_features"
        ),
    }
    out: dict[str, bool | None] = {}
    for name, key in wanted.items():
        # The newest record may be only PLANNED (its run is in progress, or its worker was
        # killed): the latest result is the newest record that was evaluated.
        records = instance.event_log_storage.get_asset_check_execution_history(key, limit=20)
        evaluations = [
            r.evaluation for r in records if isinstance(r.evaluation, dg.AssetCheckEvaluation)
        ]
        out[name] = bool(evaluations[0].passed) if evaluations else None
    return out


def write_summary(settings: Settings, summary: dict[str, Any]) -> None:
    path = settings.home_dir / "demo_summary.json"
    path.write_text(json.dumps(summary, indent=1, default=str) + "\n")


def render(summary: dict[str, Any]) -> str:
    lines = ["", "=== mlsys demo: summary ==="]
    t = summary["traffic"]
    lines.append(
        f"traffic: {t['predictions']} predictions, {t['feedback']} outcomes, "
        f"status codes {t['status_counts']}"
    )
    lines.append("model versions:")
    for v in summary["versions"]:
        canary = (
            f", canary: {v['canary_decision']} ({v['canary_reason']})"
            if v["canary_decision"]
            else ""
        )
        lines.append(
            f"  v{v['version']}: aliases {v['aliases'] or '-'}, gate {v['quality_gate']}, "
            f"tested on {v['test_window']}{canary}"
        )
    lines.append("retraining runs (launched by sensors):")
    for r in summary["retrains"]:
        lines.append(
            f"  {r['started']}  {r['status']:<8} {r['sensor']}: {r['reason']} ({r['signal']})"
        )
    for r in summary["canaries"]:
        lines.append(f"canary run {r['started']} {r['status']}: {r['signal']}")
    failed = summary.get("failed_runs", [])
    lines.append(f"failed runs: {len(failed) or 'none'}")
    for r in failed:
        lines.append(f"  {r['job']} {r['run_id'][:8]} ({r['for'] or '-'}): {r['error']}")
    lines.append("live AUC per month (served model vs the first champion, never retrained):")
    for m in summary["monthly_auc"]:
        served = "n/a" if m["auc_served"] is None else f"{m['auc_served']:.4f}"
        first = "n/a" if m["auc_first_champion"] is None else f"{m['auc_first_champion']:.4f}"
        lines.append(
            f"  {m['month']}: served {served}  first champion {first}  "
            f"({m['labelled']} labelled, versions {m['versions_served']})"
        )
    lv = summary.get("live_vs_offline") or {}
    if lv:
        auc = {k: "n/a" if lv[k] is None else f"{lv[k]:.4f}" for k in ("auc_live", "auc_offline")}
        lines.append(
            f"live vs offline on the same {lv['labelled']} labelled flights: AUC live "
            f"{auc['auc_live']}, offline {auc['auc_offline']} (max |score diff| "
            f"{lv['max_abs_score_diff']:.2g})"
        )
        weather = lv["weather_present_where_known"]
        lines.append(
            f"missing features: {lv['live_missing_share']:.1%} of values live, "
            f"{lv['offline_missing_share']:.1%} offline at the same moments; worst excess "
            f"{lv['worst_excess_missing']}; weather present in "
            f"{'n/a' if weather is None else f'{weather:.1%}'} of requests where it was known"
        )
    costs = summary.get("cost_per_variant") or []
    if costs:
        lines.append("business cost per variant (realised on labelled flights, estimated from p):")
    for c in costs:
        realised = c["realised_per_flight"]
        lines.append(
            f"  {c['variant']:<10} {c['flights']} flights: realised "
            f"{'n/a' if realised is None else f'{realised:.2f}'} per flight "
            f"({c['labelled']} labelled), estimated {c['estimated_per_flight']:.2f} per flight"
        )
    lines.append(f"checks: {summary['checks']}")
    monitoring = summary.get("monitoring") or {}
    if monitoring:
        days = monitoring["days"]
        lines.append(
            "monitored days: "
            + ", ".join(f"{t} {len(d)}" for t, d in days.items())
            + f"; segments flagged: {len(monitoring['flagged_segments'])}"
        )
    lines.append("where to look:")
    for name, where in summary["where"].items():
        lines.append(f"  {name:<18} {where}")
    return "\n".join(lines)
