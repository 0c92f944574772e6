"""The jobs the sensors launch. Each is an asset selection, so a run shows in the asset graph."""

from __future__ import annotations

import dagster as dg

REASON_TAG = "mlsys/reason"
SIGNAL_TAG = "mlsys/signal_value"

# Ingest what landed, recompute the features and refresh the online store, for a day range.
daily_pipeline_job = dg.define_asset_job(
    name="daily_pipeline",
    selection=dg.AssetSelection.groups("ingestion", "features"),
    description="Ingestion, features and the online store for a range of days (one run).",
)

# Monitor a range of days in one run (quality, drift, performance, confidence, class balance,
# cost, availability, segments, skew, operations) and redraw the overview.
monitoring_job = dg.define_asset_job(
    name="daily_monitoring",
    selection=dg.AssetSelection.groups("monitoring"),
    description="Every monitoring asset for a range of days (one run), then the overview page.",
)

# Train on the latest window, evaluate, register, gate, and set `challenger` if the gate passes.
retrain_job = dg.define_asset_job(
    name="retrain",
    selection=dg.AssetSelection.groups("training", "registry")
    - dg.AssetSelection.assets("canary_decision"),
    description="Training set, search, model, evaluation, registration, quality gate, aliases.",
)

# Compare champion and challenger on live labelled traffic; promote or roll back.
canary_job = dg.define_asset_job(
    name="canary",
    selection=dg.AssetSelection.assets("canary_decision"),
    description="Promote the challenger or roll it back, from live metrics of both variants.",
)


weekly_retrain_backstop = dg.ScheduleDefinition(
    name="weekly_retrain_backstop",
    job=retrain_job,
    cron_schedule="0 4 * * 1",
    tags={REASON_TAG: "schedule", SIGNAL_TAG: "weekly backstop"},
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="The slow backstop: retrain weekly even when no signal fired.",
)

JOBS = [daily_pipeline_job, monitoring_job, retrain_job, canary_job]
