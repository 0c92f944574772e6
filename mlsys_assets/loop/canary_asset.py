"""``canary_decision``: promote the challenger or roll it back, and say why.

The decision is recorded three times over: as alias history in the registry (so it can be
restored), as tags on the challenger's model version, and as this materialization's metadata.
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
    """Champion vs challenger on live labelled traffic: promote, roll back, or keep waiting."""
    settings = get_settings()
    state = aliases.current(tracking)
    champion, challenger = state["champion"], state["challenger"]
    verdict = evaluate_canary(
        lambda: warehouse.connect(read_only=True), settings, champion, challenger
    )
    context.log.info(f"canary: {verdict.decision} ({verdict.reason})")
    if verdict.decision == "promote" and challenger is not None:
        aliases.promote(tracking, challenger)
    elif verdict.decision == "rollback" and challenger is not None:
        aliases.reject_challenger(tracking, verdict.reason)
    if verdict.ready and challenger is not None:
        client = tracking.client()
        client.set_model_version_tag(
            tracking.model_name, challenger, "canary_decision", verdict.decision
        )
        client.set_model_version_tag(
            tracking.model_name, challenger, "canary_reason", verdict.reason
        )
        client.set_model_version_tag(
            tracking.model_name, challenger, "canary_run_id", context.run.run_id
        )
    metadata = {k: v for k, v in verdict.as_dict().items() if v is not None}
    return dg.MaterializeResult(metadata=metadata)
