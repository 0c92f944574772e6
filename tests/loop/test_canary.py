"""The canary, end to end: live traffic through the real app, then the ``canary_decision`` asset.

A challenger serves half of a day's requests (by the stable hash of the request id) next to
the real champion; the flights' real outcomes come back as ``/feedback``; the app stops
gracefully (flushing its logs); then the decision is materialized with the project's resources.
A deliberately bad challenger is rolled back, one at least as good is promoted.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
import pytest
from fastapi.testclient import TestClient

from mlsys_assets.loop.canary_asset import canary_decision
from mlsys_assets.model_contract import (
    ALIAS_CHALLENGER,
    ALIAS_CHAMPION,
    TAG_CANARY_DECISION,
    TAG_CANARY_REASON,
    TAG_CANARY_RUN_ID,
)
from mlsys_assets.monitoring.prediction_log import read_predictions
from mlsys_assets.registry import aliases
from mlsys_assets.resources import build_resources
from mlsys_assets.resources.tracking import Tracking
from serving.app import create_app
from serving.routing import CHALLENGER, CHAMPION, choose_variant
from tests.loop.conftest import Candidates, register, serve_day
from tests.serving.world import World, next_day_requests, set_alias

pytestmark = pytest.mark.slow


def _check_routing(world: World, answers: dict[str, dict[str, Any]], challenger: str) -> None:
    """Every request went where its hash says; the champion answered all the other traffic."""
    share = world.settings.loop.canary_share
    for request_id, answer in answers.items():
        expected = choose_variant(request_id, share, has_challenger=True)
        assert answer["variant"] == expected
        assert answer["model_version"] == (challenger if expected == CHALLENGER else world.champion)
        assert answer["fallbacks"] == []
    variants = [a["variant"] for a in answers.values()]
    assert 0.35 < variants.count(CHALLENGER) / len(variants) < 0.65
    logged = read_predictions(world.settings, world.next_day, world.next_day)
    assert sorted(logged["request_id"]) == sorted(answers)  # the graceful stop lost nothing
    by_id = dict(zip(logged["request_id"], logged["model_version"], strict=True))
    assert all(by_id[rid] == a["model_version"] for rid, a in answers.items())


def _decide(world: World) -> tuple[dg.ExecuteInProcessResult, dict[str, Any]]:
    result = dg.materialize([canary_decision], resources=build_resources(world.settings))
    assert result.success
    [materialization] = result.asset_materializations_for_node("canary_decision")
    return result, {key: value.value for key, value in materialization.metadata.items()}


def _all_traffic(world: World, n: int = 60) -> set[tuple[str, str]]:
    """(variant, version) of ``n`` requests to a freshly started app."""
    with TestClient(create_app(world.settings)) as client:
        return {
            (answer["variant"], answer["model_version"])
            for i, flight in enumerate(next_day_requests(world, n))
            for answer in [
                client.post("/predict", json=flight | {"request_id": f"after-{i}"}).json()
            ]
        }


def test_a_bad_challenger_is_rolled_back_and_the_champion_keeps_serving(
    loop_world: World, candidates: Candidates
) -> None:
    settings = loop_world.settings
    tracking = Tracking.from_settings(settings)
    bad, passed = register(settings, candidates.bad)
    assert not passed  # the gate refuses it: it reaches the canary only by force
    set_alias(settings, ALIAS_CHALLENGER, bad)
    champion_tags = tracking.client().get_model_version(
        settings.registry.model_name, loop_world.champion
    )

    answers = serve_day(loop_world, "bad")
    _check_routing(loop_world, answers, challenger=bad)

    result, metadata = _decide(loop_world)
    assert metadata["decision"] == "rollback"
    assert (metadata["champion"], metadata["challenger"]) == (loop_world.champion, bad)
    assert metadata["labelled_challenger"] >= settings.loop.canary_min_labelled
    assert metadata["labelled_champion"] >= settings.loop.canary_min_labelled
    assert metadata["auc_challenger"] < metadata["auc_champion"] - settings.loop.canary_margin

    # The registry says what happened, and why, in the alias history and the version's tags.
    assert aliases.current(tracking) == {
        ALIAS_CHAMPION: loop_world.champion,
        ALIAS_CHALLENGER: None,
    }
    last = aliases.history(tracking)[-1]
    assert (last.action, last.version, last.champion, last.challenger) == (
        "canary_rollback",
        bad,
        loop_world.champion,
        None,
    )
    assert last.note == metadata["reason"] and last.note.startswith(f"live AUC v{bad} ")
    tags = tracking.client().get_model_version(settings.registry.model_name, bad).tags
    assert tags[TAG_CANARY_DECISION] == "rollback"
    assert tags[TAG_CANARY_REASON] == metadata["reason"]
    assert tags[TAG_CANARY_RUN_ID] == result.run_id
    # The champion itself is untouched, and now answers everything.
    after = tracking.client().get_model_version(settings.registry.model_name, loop_world.champion)
    assert after.tags == champion_tags.tags
    assert _all_traffic(loop_world) == {(CHAMPION, loop_world.champion)}


def test_a_challenger_at_least_as_good_is_promoted(
    loop_world: World, candidates: Candidates
) -> None:
    settings = loop_world.settings
    tracking = Tracking.from_settings(settings)
    set_alias(settings, ALIAS_CHALLENGER, None)  # the world's own challenger leaves the canary
    good, passed = register(settings, candidates.good)
    assert passed  # the gate put it in the canary, as the retrain job would
    assert aliases.current(tracking) == {
        ALIAS_CHAMPION: loop_world.champion,
        ALIAS_CHALLENGER: good,
    }

    answers = serve_day(loop_world, "good")
    _check_routing(loop_world, answers, challenger=good)

    result, metadata = _decide(loop_world)
    assert metadata["decision"] == "promote", metadata["reason"]
    assert metadata["auc_challenger"] >= metadata["auc_champion"] - settings.loop.canary_margin
    assert aliases.current(tracking) == {ALIAS_CHAMPION: good, ALIAS_CHALLENGER: None}
    last = aliases.history(tracking)[-1]
    assert (last.action, last.version, last.champion, last.challenger) == (
        "promote",
        good,
        good,
        None,
    )
    tags = tracking.client().get_model_version(settings.registry.model_name, good).tags
    assert tags[TAG_CANARY_DECISION] == "promote"
    assert tags[TAG_CANARY_REASON] == metadata["reason"]
    assert tags[TAG_CANARY_RUN_ID] == result.run_id
    assert _all_traffic(loop_world) == {(CHAMPION, good)}
