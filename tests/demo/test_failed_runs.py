"""The demo's summary names every failed run, whatever its job, with the first line of its error."""

from __future__ import annotations

import dagster as dg

from mlsys_assets.demo.summary import failed_runs, render
from mlsys_assets.ingestion.run import RANGE_END_TAG, RANGE_START_TAG


@dg.op
def ingest_nothing() -> None:
    raise IndexError("list index out of range")


@dg.op
def fine() -> None:
    return None


def test_a_failed_daily_pipeline_run_is_in_the_summary() -> None:
    instance = dg.DagsterInstance.ephemeral()
    failing = dg.GraphDefinition(name="daily_pipeline", node_defs=[ingest_nothing]).to_job()
    passing = dg.GraphDefinition(name="retrain", node_defs=[fine]).to_job()
    tags = {RANGE_START_TAG: "2013-05-27", RANGE_END_TAG: "2013-05-26"}
    failing.execute_in_process(instance=instance, raise_on_error=False, tags=tags)
    passing.execute_in_process(instance=instance)

    failed = failed_runs(instance)
    assert [(r["job"], r["for"]) for r in failed] == [("daily_pipeline", "2013-05-27..2013-05-26")]
    assert "IndexError" in failed[0]["error"] or "list index out of range" in failed[0]["error"]
    text = render_failures(failed)
    assert "failed runs: 1" in text and "daily_pipeline" in text


def render_failures(failed: list[dict]) -> str:
    """The summary's text with only the failed runs filled in."""
    summary = {
        "traffic": {"predictions": 0, "feedback": 0, "status_counts": {}},
        "versions": [],
        "retrains": [],
        "canaries": [],
        "failed_runs": failed,
        "monthly_auc": [],
        "live_vs_offline": {},
        "checks": {},
        "where": {},
        "seconds": 0,
    }
    return render(summary)


def test_checks_report_the_latest_evaluation_past_a_check_whose_run_died() -> None:
    """A run killed mid-way leaves its checks PLANNED: the summary reads the last verdict."""
    from mlsys_assets.demo.summary import check_outcomes

    attempts: list[bool] = []

    @dg.asset(name="raw_flights")
    def raw_flights() -> None:
        return None

    @dg.asset_check(asset=raw_flights, name="reconciliation")
    def reconciliation() -> dg.AssetCheckResult:
        attempts.append(True)
        if len(attempts) > 1:
            raise RuntimeError("the worker died here")
        return dg.AssetCheckResult(passed=True)

    instance = dg.DagsterInstance.ephemeral()
    assert dg.materialize([raw_flights, reconciliation], instance=instance).success
    dg.materialize([raw_flights, reconciliation], instance=instance, raise_on_error=False)
    assert check_outcomes(instance)["raw_flights:reconciliation"] is True
