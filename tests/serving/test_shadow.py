"""Shadow scoring: the challenger scores every flight the champion answers, logged, never returned.

The canary verdict compares both models on the same flights; these tests pin down that the
pairs exist for every champion answer (single and batch), that the shadow score is the
challenger's own answer for the flight, and that no client ever sees one.
"""

from __future__ import annotations

import datetime as dt
import time

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from mlsys_assets.monitoring.prediction_log import read_predictions
from mlsys_assets.scoring.loading import RegistryReader
from serving.app import create_app
from serving.features import FeatureSource
from serving.pipeline import flight_fields
from serving.prediction_log import PREDICTION_SCHEMA, ParquetLog
from serving.routing import CHALLENGER, CHAMPION, choose_variant
from serving.schemas import FlightRequest
from serving.shadow import ShadowScorer
from tests.serving.conftest import with_settings
from tests.serving.world import World, next_day_requests


def _ids_routed_to(variant: str, share: float, n: int, prefix: str) -> list[str]:
    ids = (f"{prefix}-{i}" for i in range(10_000))
    return [rid for rid in ids if choose_variant(rid, share, True) == variant][:n]


def test_every_champion_answer_has_a_shadow_score_by_the_challenger(world: World) -> None:
    share = world.settings.loop.canary_share
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
    quiet = with_settings(world, loop={"canary_shadow": False})
    with TestClient(create_app(quiet.settings)) as client:
        for i, flight in enumerate(next_day_requests(world, 10)):
            client.post("/predict", json=flight | {"request_id": f"q{i}"})
    assert read_predictions(quiet.settings, world.next_day, world.next_day, shadow=True).empty
    assert len(read_predictions(quiet.settings, world.next_day, world.next_day)) == 10


def test_shadow_rows_wait_for_a_full_batch_or_the_maximum_wait(world: World, tmp_path) -> None:
    settings = world.settings
    challenger = RegistryReader(settings.tracking_uri, settings.registry.model_name).load(
        world.challenger
    )
    requests = [FlightRequest(**f) for f in next_day_requests(world, 3)]
    flights = [flight_fields(r) for r in requests]
    source = FeatureSource.from_settings(settings)
    features = source.lookup(flights)
    source.close()
    log = ParquetLog(tmp_path / "log", PREDICTION_SCHEMA, flush_rows=10**6, flush_seconds=3600,
                     max_pending=10**6)  # fmt: skip
    scorer = ShadowScorer(log, settings.registry.model_name, (), batch_rows=4, max_wait_seconds=0.3)
    ids, missing = ["a", "b", "c"], features.missing_names()
    now = dt.datetime(2013, 1, 22, 6)

    def add(rows: list[int]) -> None:
        scorer.add(challenger, features.columns, flights, ids, missing, rows, "predict", now)

    add([0, 1, 2])
    assert log.pending == 0  # three of four: waiting for more
    add([0, 1])
    assert log.pending == 5  # full: scored in one call
    add([2])
    deadline = time.monotonic() + 5
    while log.pending < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert log.pending == 6  # the maximum wait scored the last one
    scorer.close()
    log.flush()
    written = pq.read_table(sorted((tmp_path / "log").rglob("*.parquet"))).to_pylist()
    expected = challenger.predict_matrix(challenger.encode_columns(features.columns, [0, 1, 2]))
    got = [r["delay_probability"] for r in written]
    assert got == pytest.approx([*expected, *expected[:2], expected[2]])
    assert {r["variant"] for r in written} == {"shadow"}
    assert {r["model_version"] for r in written} == {world.challenger}
