"""The training and registry assets end to end in Dagster, with the blocking quality gate."""

from __future__ import annotations

import dagster as dg
import pytest

from mlsys_assets.model_contract import ALIAS_CHALLENGER, ALIAS_CHAMPION
from mlsys_assets.registry import aliases
from mlsys_assets.registry.assets import ASSETS as REGISTRY_ASSETS
from mlsys_assets.registry.assets import CHECKS
from mlsys_assets.resources import build_resources
from mlsys_assets.settings import get_settings
from mlsys_assets.training.assets import ASSETS as TRAINING_ASSETS

pytestmark = pytest.mark.slow
RUN_CONFIG = {
    "ops": {
        "training_dataset": {"config": {"cutoff": "2013-02-03"}},
        "model_search": {"config": {"trials": 2}},
    }
}


def _materialize() -> dg.ExecuteInProcessResult:
    get_settings.cache_clear()
    return dg.materialize(
        [*TRAINING_ASSETS, *REGISTRY_ASSETS, *CHECKS],
        resources=build_resources(get_settings()),
        run_config=RUN_CONFIG,
        raise_on_error=False,
    )


def _check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    return result.get_asset_check_evaluations()[0]


def test_assets_train_register_and_the_gate_blocks_a_worse_model(
    train_settings, monkeypatch
) -> None:
    first = _materialize()
    assert first.success
    assert _check(first).passed
    evaluation = first.asset_materializations_for_node("model_evaluation")[0].metadata
    assert "plot_roc" in evaluation and "segments" in evaluation
    tracking = build_resources(get_settings())["tracking"]
    champion = aliases.current(tracking)[ALIAS_CHAMPION]
    assert champion == "1"

    monkeypatch.setenv(
        "MLSYS_REGISTRY__GATE_MIN_ROC_AUC", "0.99"
    )  # no model on this data reaches it
    second = _materialize()
    check = _check(second)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    materialized = {e.asset_key.path[-1] for e in second.get_asset_materialization_events()}
    assert "registered_model" in materialized and "model_aliases" not in materialized
    assert aliases.current(tracking) == {ALIAS_CHAMPION: champion, ALIAS_CHALLENGER: None}
