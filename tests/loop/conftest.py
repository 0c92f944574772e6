"""The loop's fixtures: the serving tests' real world, driven through the process settings.

The sensors and the ``canary_decision`` asset read ``get_settings()`` (the environment), so a
test's world is a private copy of the serving world made the process's MLSYS_HOME, with the
loop's thresholds set as ``MLSYS_*`` variables. The landing-sensor tests reuse the ingestion
fixtures (a replayed landing zone with faults).
"""

from __future__ import annotations

import dataclasses
import math
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mlsys_assets.registry.workflow import register_trained
from mlsys_assets.resources.tracking import Tracking
from mlsys_assets.resources.warehouse import Warehouse
from mlsys_assets.settings import Settings, get_settings
from mlsys_assets.training.pipeline import (
    TrainedModel,
    build_training_set,
    explicit_windows,
    train_model,
)
from mlsys_assets.training.splits import TRAIN, VALIDATION
from serving.app import create_app
from tests.ingestion.conftest import faulty_source  # noqa: F401  (a fixture)
from tests.serving.world import (
    FIRST_DAY,
    LAST_DAY,
    TEST_START,
    TRAIN_END,
    World,
    flights_of,
    next_day_requests,
)

# What the loop's tests set in the environment (read by get_settings() in sensors and assets).
LOOP_ENV = {
    "LOOP__CANARY_SHARE": "0.5",
    "LOOP__CANARY_MIN_LABELLED": "100",
    "LOOP__CANARY_MARGIN": "0.02",
    # the earlier rule, which these tests pin; test_canary_paired.py sets the paired default
    "LOOP__CANARY_RULE": "unpaired",
    "SERVING__POLL_SECONDS": "3600",  # the app loads the aliases at start; tests restart it
    "BACKENDS__ADMIN_TOKEN": "test-admin-token",
    # the world's fast training settings, for models registered by the tests
    "TRAINING__VALIDATION_DAYS": "4",
    "TRAINING__TEST_DAYS": "4",
    "TRAINING__THREADS": "1",
}


def use_settings(
    monkeypatch: pytest.MonkeyPatch, home: Path, **sections: dict[str, object]
) -> Settings:
    """Make ``home`` (and the sections' changes, e.g. ``loop={"canary_rule": "paired"}``) the
    process settings, as the daemon would see them."""
    monkeypatch.setenv("MLSYS_HOME", str(home))
    changes = {
        f"{section}__{name}".upper(): str(value)
        for section, values in sections.items()
        for name, value in values.items()
    }
    for name, value in {**LOOP_ENV, **changes}.items():
        monkeypatch.setenv(f"MLSYS_{name}", value)
    get_settings.cache_clear()
    return get_settings()


@pytest.fixture
def loop_world(
    world_template: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[World]:
    """A private copy of the serving world as MLSYS_HOME, whose served day has not landed yet.

    The served day's flights are taken out of ``raw.flights``: their outcomes reach the loop
    only as ``/feedback``, as they would for a day that is still being flown.
    """
    home = tmp_path / "home"
    leftovers = shutil.ignore_patterns("predictions", "serving")
    shutil.copytree(world_template.settings.home_dir, home, ignore=leftovers)
    settings = use_settings(monkeypatch, home)
    with Warehouse(path=str(settings.warehouse_path)).connect() as conn:
        conn.execute("DELETE FROM raw.flights WHERE flight_date = ?", [world_template.next_day])
    yield dataclasses.replace(world_template, settings=settings)
    get_settings.cache_clear()


@dataclasses.dataclass(frozen=True)
class Candidates:
    """Two models trained on the world's window, ready to be registered in any copy of it."""

    good: TrainedModel  # true labels, default parameters: passes the gate
    bad: TrainedModel  # inverted labels: ranks delays last, live AUC about 1 - the champion's


@pytest.fixture(scope="session")
def candidates(world_template: World) -> Candidates:
    settings = world_template.settings.replace(
        training={"validation_days": 4, "test_days": 4, "threads": 1}
    )
    windows = explicit_windows(settings, FIRST_DAY, TRAIN_END, TEST_START, LAST_DAY)
    with Warehouse(path=str(settings.warehouse_path)).connect(read_only=True) as conn:
        training_set = build_training_set(conn, settings, windows, seed=1)
    good = train_model(training_set, settings, trials=0, seed=1)
    # A deliberately bad model: the same rows with every training/validation label flipped.
    frame = training_set.frame.copy()
    fit_rows = frame["split"].isin([TRAIN, VALIDATION])
    frame.loc[fit_rows, "label"] = 1.0 - frame.loc[fit_rows, "label"]
    flipped = dataclasses.replace(training_set, frame=frame)
    bad = train_model(flipped, settings, trials=0, seed=1)
    return Candidates(good=good, bad=bad)


def register(settings: Settings, trained: TrainedModel) -> tuple[str, bool]:
    """Register ``trained`` as the next version (gate and aliases as the retrain job does)."""
    ref, gate = register_trained(Tracking.from_settings(settings), trained, settings)
    return ref.version, gate.passed


def outcome(row: Any) -> dict[str, Any] | None:
    """A flight's real outcome as a ``/feedback`` body (None: diverted, no outcome to report)."""
    if row.cancelled:
        return {"cancelled": True}
    if row.arr_delay is None or math.isnan(row.arr_delay):
        return None
    return {"arr_delay": float(row.arr_delay)}


def serve_day(
    world: World,
    prefix: str,
    *,
    limit: int | None = None,
    feedback: slice | None = slice(None),
) -> dict[str, dict[str, Any]]:
    """Send the served day's flights to ``/predict`` (request ids ``<prefix>-<i>``), post the
    real outcomes of the ``feedback`` slice of them, then stop the app (flushing its logs).

    Returns each request id's answer.
    """
    bodies = next_day_requests(world, limit)
    rows = list(flights_of(world.next_day).head(len(bodies)).itertuples())
    answers: dict[str, dict[str, Any]] = {}
    with TestClient(create_app(world.settings)) as client:
        for i, body in enumerate(bodies):
            request_id = f"{prefix}-{i}"
            response = client.post("/predict", json=body | {"request_id": request_id})
            assert response.status_code == 200, response.text
            answers[request_id] = response.json()
        for i, row in list(enumerate(rows))[feedback or slice(0)]:
            known = outcome(row)
            if known is not None:
                response = client.post("/feedback", json={"request_id": f"{prefix}-{i}", **known})
                assert response.status_code == 200, response.text
    return answers


def post_feedback(world: World, prefix: str, indices: range) -> None:
    """Post the real outcomes of already served requests (a later app, flushed on stop)."""
    rows = list(flights_of(world.next_day).itertuples())
    with TestClient(create_app(world.settings)) as client:
        for i in indices:
            known = outcome(rows[i])
            if known is not None:
                response = client.post("/feedback", json={"request_id": f"{prefix}-{i}", **known})
                assert response.status_code == 200, response.text
