"""Monitoring one day's partition: every daily monitoring asset, in process, on 2 cores.

Setup (not timed): January-March 2013 into a fresh warehouse, the feature store's offline tables,
a champion trained on January-February through the registry's ``train_and_register`` (default
parameters), the champion's reference built once (timed apart: it happens once per version), and
a prediction log for every flight of the day written through serving's own writer. Timed: one
``materialize`` of every daily monitoring asset for that day and the overview (features, drift
with the Evidently report, quality, prediction drift, CBPE estimate, live performance, skew,
operations, coverage, confidence, class balance, business cost, availability, segments with
their tests). The budget is 10 s. The overview and heat map pictures, drawn once per run (not
per day), are timed apart, and so is the CPU time: on a shared two-core machine the wall time
depends on the load, which is printed.

The last line printed is one JSON object: ``{"day_seconds": ..., "day_cpu_seconds": ...,
"segments_seconds": ..., "overview_seconds": ..., "steps": {...}}``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.reference_data

DAY = dt.date(2013, 3, 20)


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="mlsys-bench-monitoring-"))
    os.environ["MLSYS_HOME"] = str(home)
    import dagster as dg
    import duckdb

    from mlsys_assets.features import FLIGHTS_V1, build_training_set, entity_rows_for_flights
    from mlsys_assets.features.offline import compute_all
    from mlsys_assets.monitoring.assets import ASSETS, DAILY_ASSETS
    from mlsys_assets.monitoring.daily import reference_or_none
    from mlsys_assets.registry.workflow import train_and_register
    from mlsys_assets.resources import build_resources
    from mlsys_assets.settings import get_settings
    from serving.prediction_log import PREDICTION_SCHEMA, ParquetLog
    from serving.services import PREDICTION_LOG_DIR
    from tests.reference_data import load_reference

    get_settings.cache_clear()
    settings = get_settings()
    with duckdb.connect(str(settings.warehouse_path)) as conn:
        load_reference(conn, dt.date(2013, 1, 1), dt.date(2013, 3, 31))
        compute_all(conn, FLIGHTS_V1.views, dt.date(2013, 1, 1), dt.date(2013, 3, 31))
    info = train_and_register(
        settings, dt.date(2013, 1, 1), dt.date(2013, 2, 20), dt.date(2013, 2, 23),
        dt.date(2013, 3, 8), trials=0,
    )  # fmt: skip
    print(f"champion v{info.version} gate_passed={info.gate_passed} aliases={info.aliases}")

    started = time.perf_counter()
    with duckdb.connect(str(settings.warehouse_path)) as conn:
        reference = reference_or_none(conn, settings)
        assert reference is not None and reference.bundle is not None, "no champion reference"
        flights = build_training_set(conn, entity_rows_for_flights(conn, DAY, DAY))
    reference_seconds = time.perf_counter() - started
    print(f"reference {reference.reference_id} built in {reference_seconds:.2f} s")

    bundle = reference.bundle
    scores = bundle.predict_frame(flights)
    log = ParquetLog(settings.predictions_dir / PREDICTION_LOG_DIR, PREDICTION_SCHEMA,
                     flush_rows=100_000, flush_seconds=60, max_pending=100_000)  # fmt: skip
    for i, (row, p) in enumerate(zip(flights.to_dict("records"), scores, strict=True)):
        sched = row["scheduled_departure"].to_pydatetime()
        values = {n: (None if row[n] is None or row[n] != row[n] else row[n])
                  for n in FLIGHTS_V1.feature_names}  # fmt: skip
        log.append({
            "request_id": f"bench-{i}", "logged_at": sched - dt.timedelta(minutes=30),
            "endpoint": "/predict", "carrier": row["carrier"], "flight": int(row["flight"]),
            "tailnum": row["tailnum"], "origin": row["origin"], "dest": row["dest"],
            "scheduled_departure": sched, "distance": float(row["distance"]),
            "feature_values": values, "missing_features": sorted(k for k, v in values.items() if v is None),
            "model_name": settings.registry.model_name, "model_version": bundle.version,
            "variant": "champion", "delay_probability": float(p), "delayed": bool(p >= bundle.threshold),
            "rule": "threshold", "threshold": bundle.threshold, "fallbacks": [], "latency_ms": 3.0,
        })  # fmt: skip
    log.flush()

    resources = build_resources(settings)
    load = os.getloadavg()[0]
    started, cpu = time.perf_counter(), time.process_time()
    result = dg.materialize(DAILY_ASSETS, partition_key=DAY.isoformat(), resources=resources)
    day_seconds = time.perf_counter() - started
    day_cpu = time.process_time() - cpu
    assert result.success
    steps = step_seconds(result)
    started = time.perf_counter()
    overview = dg.materialize(ASSETS, selection=["monitoring_overview"], resources=resources)
    overview_seconds = time.perf_counter() - started
    assert overview.success
    for asset in DAILY_ASSETS:
        metadata = result.asset_materializations_for_node(asset.key.path[-1])[0].metadata
        shown = {k: getattr(v, "value", v) for k, v in metadata.items()
                 if k in ("drift_share", "live_roc_auc", "est_roc_auc", "skew_max_mismatch_rate",
                          "latency_p95_ms", "positive_rate", "findings_warn",
                          "near_threshold_share", "expected_cost_per_flight", "availability",
                          "error_budget_left", "tested", "flagged")}  # fmt: skip
        print(f"{asset.key.path[-1]}: {shown}  ({steps.get(asset.key.path[-1], 0):.2f} s)")
    print(
        f"flights={len(flights)} day_seconds={day_seconds:.2f} (budget 10 s; CPU {day_cpu:.2f} s; "
        f"load average {load:.1f} on {os.cpu_count()} cores) segments="
        f"{steps.get('segment_performance', 0):.2f} s; overview (once per run) "
        f"{overview_seconds:.2f} s; reference (once per champion) {reference_seconds:.2f} s"
    )
    print(json.dumps({"day_seconds": round(day_seconds, 3), "day_cpu_seconds": round(day_cpu, 3),
                      "segments_seconds": round(steps.get("segment_performance", 0.0), 3),
                      "overview_seconds": round(overview_seconds, 3),
                      "within_budget": day_seconds < 10.0, "flights": len(flights),
                      "load_average": round(load, 2),
                      "steps": {k: round(v, 3) for k, v in steps.items()}}))  # fmt: skip


def step_seconds(result) -> dict[str, float]:
    """Seconds per step (asset) of a run, as Dagster measured them."""
    return {
        event.step_key: event.event_specific_data.duration_ms / 1000.0
        for event in result.get_step_success_events()
    }


if __name__ == "__main__":
    main()
