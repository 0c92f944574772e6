"""The batch answer is written straight from the scored columns: it must be the models' JSON."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from serving.schemas import BatchResponse
from tests.serving.world import World, flight_requests


def test_the_batch_json_is_the_json_of_the_predictions(
    shared_client: TestClient, shared_world: World
) -> None:
    pipeline = shared_client.app.state.services.pipeline
    scored = pipeline.score(flight_requests(shared_world, 300, "j-"))
    predictions = scored.predictions()
    assert {p.variant for p in predictions} == {"champion", "challenger"}  # two models decide
    expected = BatchResponse(predictions=predictions).model_dump(mode="json")
    assert json.loads(scored.to_json()) == expected


def test_one_model_without_rules_decides_by_its_threshold(
    shared_client: TestClient, shared_world: World
) -> None:
    pipeline = shared_client.app.state.services.pipeline
    share, pipeline.canary_share = pipeline.canary_share, 0.0
    try:
        scored = pipeline.score(flight_requests(shared_world, 100, "j-"))
    finally:
        pipeline.canary_share = share
    assert set(scored.variant) == {"champion"} and set(scored.rule) == {"threshold"}
    threshold = scored.threshold[0]
    assert scored.delayed == [p >= threshold for p in scored.delay_probability]
    assert set(scored.model_version) == {shared_world.champion}
    assert any(scored.delayed) and not all(scored.delayed)
