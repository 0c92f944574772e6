"""``canary_decision``: promote the challenger, roll it back or keep the champion, and say why.

The decision is recorded three times over: as alias history in the registry (so it can be
restored), as tags on the challenger's model version (decision, reason, rule, and for the paired
verdict its AUC interval and the labelled pairs it used), and as this materialization's metadata.
"""

import dagster as dg

from mlsys_assets.loop.canary import evaluate_canary
from mlsys_assets.registry import aliases
from mlsys_assets.resources.tracking import Tracking
from mlsys_assets.resources.warehouse import Warehouse
from mlsys_assets.settings import get_settings


@dg.asset(group_name="registry", kinds={"mlflow"}, pool="warehouse")
def canary_decision(
    context: dg.AssetExecutionContext, warehouse: Warehouse, tracking: Tracking
) -> dg.MaterializeResult:
    """Champion vs challenger on live labelled traffic: promote, roll back, keep, or wait."""
    settings = get_settings()
    state = aliases.current(tracking)
    champion, challenger = state["champion"], state["challenger"]
    verdict = evaluate_canary(
        lambda: warehouse.connect(read_only=True), settings, champion, challenger
    )
    context.log.info(f"canary: {verdict.decision} ({verdict.reason})")
    if verdict.decision == "promote" and challenger is not None:
        aliases.promote(tracking, challenger, note=verdict.reason)
    elif verdict.leaves_canary and challenger is not None:
        action = "canary_keep" if verdict.decision == "keep" else "canary_rollback"
        aliases.reject_challenger(tracking, verdict.reason, action=action)
    if verdict.ready and challenger is not None:
        tags = {
            "canary_decision": verdict.decision,
            "canary_reason": verdict.reason,
            "canary_run_id": context.run.run_id,
            "canary_rule": verdict.rule,
        }
        if verdict.n is not None:  # the paired verdict: its interval and sample
            tags |= {"canary_interval": verdict.interval, "canary_n": str(verdict.n)}
        client = tracking.client()
        for key, value in tags.items():
            client.set_model_version_tag(tracking.model_name, challenger, key, value)
    metadata = {k: v for k, v in verdict.as_dict().items() if v is not None}
    return dg.MaterializeResult(metadata=metadata)
