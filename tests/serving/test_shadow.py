"""Shadow scoring: the challenger scores every flight the champion answers, logged, never returned.

The canary verdict compares both models on the same flights; these tests pin down that the
pairs exist for every champion answer (single and batch), that the shadow score is the
challenger's own answer for the flight, and that no client ever sees one.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from mlsys_assets.monitoring.prediction_log import read_predictions
from serving.app import create_app
from serving.routing import CHALLENGER, CHAMPION, choose_variant
from tests.serving.conftest import with_settings
from tests.serving.world import World, next_day_requests


def _ids_routed_to(variant: str, share: float, n: int, prefix: str) -> list[str]:
    ids = (f"{prefix}-{i}" for i in range(10_000))
    return [rid for rid in ids if choose_variant(rid, share, True) == variant][:n]


def test_every_champion_answer_has_a_shadow_score_by_the_challenger(world: World) -> None:
    share = world.settings.canary_share
    flights = next_day_requests(world, 20)
    with TestClient(create_app(world.settings)) as client:
        answers = [
            client.post("/predict", json=f | {"request_id": f"s{i}"}).json()
            for i, f in enumerate(flights)
        ]
        batch = client.post(
            "/predict/batch",
            json={"flights": [f | {"request_id": f"b{i}"} for i, f in enumerate(flights)]},
        ).json()["predictions"]
        # The challenger's own answers for the same flights, to compare with its shadow scores.
        own = {
            i: client.post("/predict", json=f | {"request_id": rid}).json()
            for (i, f), rid in zip(
                enumerate(flights), _ids_routed_to(CHALLENGER, share, 20, "c"), strict=True
            )
        }
    assert {a["variant"] for a in answers + batch} <= {CHAMPION, CHALLENGER}  # never "shadow"

    answered = read_predictions(world.settings, world.next_day, world.next_day)
    shadow = read_predictions(world.settings, world.next_day, world.next_day, shadow=True)
    champion_ids = set(answered.loc[answered["variant"] == CHAMPION, "request_id"])
    assert champion_ids and set(shadow["request_id"]) == champion_ids
    assert set(shadow["variant"]) == {"shadow"}
    assert set(shadow["model_version"]) == {world.challenger}
    by_id = shadow.set_index("request_id")
    for i, answer in enumerate(answers):
        if answer["variant"] == CHAMPION:
            row = by_id.loc[f"s{i}"]
            assert row["delay_probability"] == own[i]["delay_probability"]
            assert bool(row["delayed"]) == own[i]["delayed"]
            assert row["carrier"] == flights[i]["carrier"]  # the flight key, for the labels


def test_shadow_scoring_can_be_switched_off(world: World) -> None:
    quiet = with_settings(world, canary_shadow=False)
    with TestClient(create_app(quiet.settings)) as client:
        for i, flight in enumerate(next_day_requests(world, 10)):
            client.post("/predict", json=flight | {"request_id": f"q{i}"})
    assert read_predictions(quiet.settings, world.next_day, world.next_day, shadow=True).empty
    assert len(read_predictions(quiet.settings, world.next_day, world.next_day)) == 10
