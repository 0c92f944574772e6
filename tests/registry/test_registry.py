"""Registry behaviour on a real MLflow (SQLite under tmp_path): lineage, gate, aliases."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mlsys_assets.model_contract import (
    ALIAS_CHALLENGER,
    ALIAS_CHAMPION,
    BASELINE_ARTIFACT,
    FEATURE_SPEC_ARTIFACT,
    TAG_GATE,
    TAG_THRESHOLD,
    Baseline,
    FeatureSpec,
)
from mlsys_assets.registry import aliases
from mlsys_assets.registry.registration import signature_inputs
from mlsys_assets.registry.workflow import register_trained, train_and_register
from mlsys_assets.resources.tracking import Tracking
from mlsys_assets.training.dataset import select_training_set
from mlsys_assets.training.pipeline import train_model
from mlsys_assets.training.splits import TRAIN, VALIDATION
from tests.training.conftest import TEST_END, TEST_START, TRAIN_END, TRAIN_START


def _train(settings, seed: int = 1, trials: int = 0):
    return train_and_register(
        settings, TRAIN_START, TRAIN_END, TEST_START, TEST_END, trials=trials, seed=seed
    )


def test_first_model_becomes_champion_with_its_lineage(train_settings, windows) -> None:
    info = _train(train_settings, trials=1)
    assert info.gate_passed, info.gate_reasons
    assert info.aliases == {ALIAS_CHAMPION: info.version, ALIAS_CHALLENGER: None}

    tracking = Tracking.from_settings(train_settings)
    client = tracking.client()
    run = client.get_run(info.run_id)
    mv = client.get_model_version(train_settings.registry.model_name, info.version)
    for tags in (run.data.tags, mv.tags):  # the exact window and digest, on run and version
        assert tags["train_window"] == str(windows.train)
        assert tags["validation_window"] == str(windows.validation)
        assert tags["test_window"] == str(windows.test) == info.test_window
        assert tags["training_set_digest"] == info.digest
        assert tags["feature_service"] == "flights_v2"  # MLSYS_FEATURES__SERVICE's default
        assert tags["git_commit"]
    assert 0.0 < float(mv.tags[TAG_THRESHOLD]) < 1.0
    assert mv.tags[TAG_GATE] == "passed"
    assert run.data.tags["env.xgboost"] and run.data.params["sampling"] == "none"
    assert run.data.metrics["rows_train"] > 0 and "test_roc_auc" in run.data.metrics

    artifacts = {a.path for a in client.list_artifacts(info.run_id)}
    assert {FEATURE_SPEC_ARTIFACT, BASELINE_ARTIFACT, "plots", "evaluation", "lineage"} <= artifacts
    plots = {Path(a.path).name for a in client.list_artifacts(info.run_id, "plots")}
    assert plots == {"roc.png", "pr.png", "calibration.png", "importance.png"}
    search = client.list_artifacts(info.run_id, "search")
    assert [Path(a.path).name for a in search] == ["trials.csv"]

    # the contract files travel inside the registered model too, as serving reads them
    local = Path(
        client.download_artifacts(info.run_id, FEATURE_SPEC_ARTIFACT, str(train_settings.home_dir))
    )
    spec = FeatureSpec.from_json(local.read_text())
    import mlflow

    with tracking.activated():
        model_dir = Path(
            mlflow.artifacts.download_artifacts(f"models:/flight_delay@{ALIAS_CHAMPION}")
        )
    assert (
        FeatureSpec.from_json((model_dir / "artifacts" / FEATURE_SPEC_ARTIFACT).read_text()) == spec
    )
    baseline = Baseline.from_json((model_dir / BASELINE_ARTIFACT).read_text())
    assert 0.0 < baseline.global_rate < 1.0 and baseline.rates
    assert spec.signature_problems(signature_inputs(info.model_uri, tracking)) == []
    inputs = dict(signature_inputs(info.model_uri, tracking) or [])
    assert {inputs[c] for c in spec.categories} == {"string"}
    assert {t for n, t in inputs.items() if n not in spec.categories} == {"double"}


def test_gate_refuses_a_model_trained_on_shuffled_labels(train_settings, conn, windows) -> None:
    champion = _train(train_settings)
    assert champion.aliases[ALIAS_CHAMPION] == champion.version

    worse = select_training_set(conn, windows)
    rng = np.random.default_rng(0)
    fit_rows = worse.frame["split"].isin([TRAIN, VALIDATION])
    worse.frame.loc[fit_rows, "label"] = rng.permutation(
        worse.frame.loc[fit_rows, "label"].to_numpy()
    )
    tracking = Tracking.from_settings(train_settings)
    ref, gate = register_trained(
        tracking, train_model(worse, train_settings, trials=0, seed=1), train_settings
    )
    assert not gate.passed and gate.reasons
    assert gate.champion_version == champion.version
    assert aliases.current(tracking) == {ALIAS_CHAMPION: champion.version, ALIAS_CHALLENGER: None}
    mv = tracking.client().get_model_version(train_settings.registry.model_name, ref.version)
    assert mv.tags[TAG_GATE] == "failed"
    with pytest.raises(aliases.AliasError):
        aliases.after_gate(tracking, ref.version)
    with pytest.raises(aliases.AliasError):
        aliases.promote(tracking, ref.version)
    assert aliases.current(tracking)[ALIAS_CHAMPION] == champion.version


def test_promote_rollback_and_restore_move_the_aliases(train_settings, conn, windows) -> None:
    # alias moves do not depend on what the model learned: one model, registered as 3 versions
    tracking = Tracking.from_settings(train_settings)
    trained = train_model(select_training_set(conn, windows), train_settings, trials=0, seed=1)

    def register_version() -> str:
        ref, gate = register_trained(tracking, trained, train_settings)
        assert gate.passed, gate.reasons
        return ref.version

    v1 = register_version()
    v2 = register_version()
    assert aliases.current(tracking) == {ALIAS_CHAMPION: v1, ALIAS_CHALLENGER: v2}

    aliases.promote(tracking, v2)
    assert aliases.current(tracking) == {ALIAS_CHAMPION: v2, ALIAS_CHALLENGER: None}
    v3 = register_version()
    assert aliases.current(tracking) == {ALIAS_CHAMPION: v2, ALIAS_CHALLENGER: v3}
    aliases.promote(tracking, v3)
    assert aliases.current(tracking)[ALIAS_CHAMPION] == v3

    aliases.rollback(tracking)
    assert aliases.current(tracking)[ALIAS_CHAMPION] == v2
    aliases.rollback(tracking)  # twice: back to the champion before v2
    assert aliases.current(tracking)[ALIAS_CHAMPION] == v1
    with pytest.raises(aliases.AliasError):
        aliases.rollback(tracking)

    events = aliases.history(tracking)
    assert [e.action for e in events] == [
        "initial",
        "challenger",
        "promote",
        "challenger",
        "promote",
        "rollback",
        "rollback",
    ]
    two_challengers = next(e for e in events if e.action == "challenger" and e.version == v3)
    aliases.restore(tracking, two_challengers.event)
    assert aliases.current(tracking) == {ALIAS_CHAMPION: v2, ALIAS_CHALLENGER: v3}
    assert aliases.history(tracking)[-1].action == "restore"
    tags = tracking.client().get_registered_model(train_settings.registry.model_name).tags
    assert json.loads(tags["alias_history.000001"])["champion"] == v1
