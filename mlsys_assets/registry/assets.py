"""Dagster assets of the registry group: the registered version, its quality gate, the aliases.

``quality_gate`` is a blocking ERROR check on ``registered_model``: when it fails, the run stops
before ``model_aliases``, so a worse model never becomes ``challenger``. ``model_aliases`` also
re-reads the gate's verdict from the version's tags (a run without the check cannot skip it).

MLflow and XGBoost are imported inside the assets: every run process loads this code location,
and only the runs that touch the registry should pay for them.
"""

from typing import Any

import dagster as dg

from mlsys_assets.registry import aliases
from mlsys_assets.resources.run_settings import RunSettings
from mlsys_assets.resources.tracking import Tracking
from mlsys_assets.resources.warehouse import Warehouse
from mlsys_assets.training.dataset import read_training_set
from mlsys_assets.training.splits import TEST

GROUP = "registry"


@dg.asset(group_name=GROUP, kinds={"mlflow"})
def registered_model(
    context: dg.AssetExecutionContext,
    model_evaluation: dict[str, Any],
    warehouse: Warehouse,
    tracking: Tracking,
) -> dg.Output[dict[str, Any]]:
    """A new version of the flight_delay model, registered only with a lossless signature."""
    from mlsys_assets.registry.registration import register
    from mlsys_assets.training.model_log import LoggedModel

    with warehouse.connect(read_only=True) as conn:
        spec = read_training_set(conn).spec
    ref = register(tracking, LoggedModel.of(model_evaluation), spec, model_evaluation["tags"])
    context.log.info(f"registered {ref.registry_uri}")
    record = {
        "name": ref.name,
        "version": ref.version,
        "run_id": ref.run_id,
        "model_uri": ref.model_uri,
        "digest": model_evaluation["digest"],
    }
    return dg.Output(
        record,
        metadata={**record, "test_roc_auc": float(model_evaluation["metrics"]["test_roc_auc"])},
    )


@dg.asset_check(
    asset=registered_model,
    blocking=True,
    description=(
        "Floors (ROC AUC, PR AUC lift over the delay rate) and not worse than the champion on "
        "the same test window by more than the configured margin."
    ),
)
def quality_gate(
    registered_model: dict[str, Any],
    warehouse: Warehouse,
    tracking: Tracking,
    run_settings: RunSettings,
) -> dg.AssetCheckResult:
    from mlsys_assets.registry.gate import run_gate

    settings = run_settings.resolve()
    with warehouse.connect(read_only=True) as conn:
        training_set = read_training_set(conn)
    if training_set.digest != registered_model["digest"]:
        raise dg.Failure("the training snapshot changed since this version was trained")
    result = run_gate(
        tracking,
        registered_model["version"],
        training_set.part(TEST),
        test_window=str(training_set.windows.test),
        min_roc_auc=settings.registry.gate_min_roc_auc,
        min_pr_lift=settings.registry.gate_min_pr_lift,
        margin=settings.registry.gate_margin,
    )
    return dg.AssetCheckResult(
        passed=result.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={k: v for k, v in result.as_metadata().items() if v is not None},
        description="; ".join(result.reasons) or "passed",
    )


@dg.asset(group_name=GROUP, kinds={"mlflow"})
def model_aliases(
    context: dg.AssetExecutionContext, registered_model: dict[str, Any], tracking: Tracking
) -> dg.MaterializeResult:
    """Aliases after the gate: the version becomes challenger (champion if there is none)."""
    event = aliases.after_gate(tracking, registered_model["version"])
    context.log.info(f"alias event {event.event}: {event.action} v{event.version}")
    return dg.MaterializeResult(
        metadata={
            "action": event.action,
            "version": registered_model["version"],
            "champion": event.champion or "none",
            "challenger": event.challenger or "none",
        }
    )


ASSETS = [registered_model, model_aliases]
CHECKS = [quality_gate]
