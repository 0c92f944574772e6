"""``canary_decision``: promote the challenger, roll it back or keep the champion, and say why.

The verdict is the loop's (``canary.py``: it reads the logs and the labels); carrying it out is
the registry's (``aliases.apply_canary_decision``), which records it as alias history (so it can
be restored) and as ``TAG_CANARY_*`` tags on the challenger's version (decision, reason, rule,
and for the paired verdict its AUC interval and labelled pairs). This materialization's metadata
holds the whole verdict.
"""

import dagster as dg

from mlsys_assets.loop.canary import evaluate_canary
from mlsys_assets.registry import aliases
from mlsys_assets.resources.run_settings import RunSettings
from mlsys_assets.resources.tracking import Tracking
from mlsys_assets.resources.warehouse import Warehouse


@dg.asset(group_name="registry", kinds={"mlflow"}, pool="warehouse")
def canary_decision(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    tracking: Tracking,
    run_settings: RunSettings,
) -> dg.MaterializeResult:
    """Champion vs challenger on live labelled traffic: promote, roll back, keep, or wait."""
    settings = run_settings.resolve()
    state = aliases.current(tracking)
    champion, challenger = state["champion"], state["challenger"]
    verdict = evaluate_canary(
        lambda: warehouse.connect(read_only=True), settings, champion, challenger
    )
    context.log.info(f"canary: {verdict.decision} ({verdict.reason})")
    if verdict.ready and challenger is not None:
        aliases.apply_canary_decision(
            tracking,
            challenger,
            verdict.decision,
            verdict.reason,
            rule=verdict.rule,
            run_id=context.run.run_id,
            interval=verdict.interval if verdict.n is not None else None,
            n=verdict.n,
        )
    metadata = {k: v for k, v in verdict.as_dict().items() if v is not None}
    return dg.MaterializeResult(metadata=metadata)
