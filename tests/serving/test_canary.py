"""Canary routing: the challenger's share over many request ids, and stickiness per id."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from serving.routing import CHALLENGER, CHAMPION, bucket, choose_variant
from tests.serving.world import World, next_day_requests


@pytest.mark.parametrize("share", [0.05, 0.1, 0.2, 0.5])
def test_canary_share_within_tolerance_over_10000_ids(share: float) -> None:
    ids = [f"req-{i}" for i in range(10_000)]
    challengers = sum(choose_variant(i, share, has_challenger=True) == CHALLENGER for i in ids)
    # Binomial sd at 10,000 draws is at most 50: allow four of them.
    assert abs(challengers - share * 10_000) <= 200


def test_variant_is_sticky_per_request_id() -> None:
    ids = [f"user-{i}:{i * 7919}" for i in range(2_000)]
    first = [choose_variant(i, 0.3, True) for i in ids]
    assert first == [choose_variant(i, 0.3, True) for i in ids]
    assert all(0.0 <= bucket(i) < 1.0 for i in ids)


def test_no_challenger_or_zero_share_is_all_champion() -> None:
    ids = [f"r{i}" for i in range(1_000)]
    assert {choose_variant(i, 0.5, has_challenger=False) for i in ids} == {CHAMPION}
    assert {choose_variant(i, 0.0, has_challenger=True) for i in ids} == {CHAMPION}


def test_app_routes_by_the_same_hash(shared_client: TestClient, shared_world: World) -> None:
    flight = next_day_requests(shared_world, 1)[0]
    seen = set()
    for i in range(150):
        request_id = f"canary-{i}"
        answer = shared_client.post("/predict", json=flight | {"request_id": request_id}).json()
        expected = choose_variant(request_id, shared_world.settings.loop.canary_share, True)
        assert answer["variant"] == expected
        version = shared_world.challenger if expected == CHALLENGER else shared_world.champion
        assert answer["model_version"] == version
        again = shared_client.post("/predict", json=flight | {"request_id": request_id}).json()
        assert again["variant"] == answer["variant"]
        seen.add(answer["variant"])
    assert seen == {CHAMPION, CHALLENGER}
