"""The paired canary, end to end: shadow pairs from the real app, then ``canary_decision``.

The champion answers half of a day's flights and the challenger scores each of them in shadow;
the outcomes come back as ``/feedback``; the sensor asks for a decision once the sequential
verdict is in, and the asset records it with its interval, sample and rule. A clearly worse
challenger is rolled back; a clearly better one (against a bad champion) is promoted.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
import pytest

from mlsys_assets.loop.canary_asset import canary_decision
from mlsys_assets.loop.jobs import SIGNAL_TAG
from mlsys_assets.loop.sensors import canary_evaluation
from mlsys_assets.model_contract import (
    ALIAS_CHALLENGER,
    ALIAS_CHAMPION,
    TAG_CANARY_DECISION,
    TAG_CANARY_INTERVAL,
    TAG_CANARY_N,
    TAG_CANARY_RULE,
    TAG_CANARY_RUN_ID,
)
from mlsys_assets.registry import aliases
from mlsys_assets.registry.verdict import VerdictRule
from mlsys_assets.resources import build_resources
from mlsys_assets.resources.tracking import Tracking
from tests.loop.conftest import Candidates, register, serve_day, use_settings
from tests.loop.test_sensors import _request, _tick
from tests.serving.world import World, set_alias

pytestmark = pytest.mark.slow


@pytest.fixture
def paired_world(loop_world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    settings = use_settings(
        monkeypatch, loop_world.settings.home_dir, loop={"canary_rule": "paired"}
    )
    return World(settings, loop_world.champion, loop_world.challenger, loop_world.next_day)


def _decide(world: World) -> tuple[dg.ExecuteInProcessResult, dict[str, Any]]:
    result = dg.materialize([canary_decision], resources=build_resources(world.settings))
    assert result.success
    [materialization] = result.asset_materializations_for_node("canary_decision")
    return result, {key: value.value for key, value in materialization.metadata.items()}


def test_a_clearly_worse_challenger_in_shadow_is_rolled_back_with_its_interval(
    paired_world: World, candidates: Candidates
) -> None:
    settings = paired_world.settings
    tracking = Tracking.from_settings(settings)
    bad, _ = register(settings, candidates.bad)
    set_alias(settings, ALIAS_CHALLENGER, bad)
    serve_day(paired_world, "bad")

    request = _request(_tick(canary_evaluation, settings, None, dg.DagsterInstance.ephemeral())[0])
    assert request.tags[SIGNAL_TAG].endswith(" labelled shadow pairs")

    result, metadata = _decide(paired_world)
    assert metadata["decision"] == "rollback", metadata["reason"]
    assert metadata["log_loss_low"] > 0  # the interval that decided
    assert metadata["auc_low"] < metadata["auc_diff"] < metadata["auc_high"]
    assert metadata["n"] >= VerdictRule.from_settings(settings).first_look
    assert "confidence sequence" in metadata["rule"]
    assert metadata["cost_diff"] is not None and "cost per flight" in metadata["reason"]

    assert aliases.current(tracking) == {
        ALIAS_CHAMPION: paired_world.champion,
        ALIAS_CHALLENGER: None,
    }
    last = aliases.history(tracking)[-1]
    assert (last.action, last.version) == ("canary_rollback", bad)
    assert last.note == metadata["reason"]
    tags = tracking.client().get_model_version(settings.registry.model_name, bad).tags
    assert tags[TAG_CANARY_DECISION] == "rollback"
    assert tags[TAG_CANARY_INTERVAL] in metadata["reason"]
    assert tags[TAG_CANARY_N] == str(metadata["n"])
    assert tags[TAG_CANARY_RULE] == metadata["rule"]
    assert tags[TAG_CANARY_RUN_ID] == result.run_id


def test_a_clearly_better_challenger_is_promoted(
    paired_world: World, candidates: Candidates
) -> None:
    settings = paired_world.settings
    tracking = Tracking.from_settings(settings)
    set_alias(settings, ALIAS_CHALLENGER, None)
    bad, _ = register(settings, candidates.bad)
    set_alias(settings, ALIAS_CHAMPION, bad)  # a bad champion, by hand
    good, passed = register(settings, candidates.good)
    assert passed and aliases.current(tracking)[ALIAS_CHALLENGER] == good
    serve_day(paired_world, "good")

    _, metadata = _decide(paired_world)
    assert metadata["decision"] == "promote", metadata["reason"]
    assert metadata["log_loss_high"] < 0 and metadata["auc_diff"] > 0
    assert aliases.current(tracking) == {ALIAS_CHAMPION: good, ALIAS_CHALLENGER: None}
    last = aliases.history(tracking)[-1]
    assert (last.action, last.version, last.note) == ("promote", good, metadata["reason"])
    assert (
        tracking.client()
        .get_model_version(settings.registry.model_name, good)
        .tags[TAG_CANARY_INTERVAL]
        == f"[{metadata['auc_low']:+.4f}, {metadata['auc_high']:+.4f}]"
    )
