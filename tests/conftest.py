"""Shared fixtures: every test gets its own MLSYS_HOME under tmp_path.

Nothing here imports MLflow, XGBoost or serving at collection time: the unit tier
(``make test-fast``) loads this file too, and a world is built only for the tests that ask.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

# No test app or `mlsys serve` binds the default gRPC port (8081) unless the test asks for a
# port of its own: hundreds of in-process apps would otherwise share it through SO_REUSEPORT,
# and so would other test runs on the machine.
os.environ.setdefault("MLSYS_SERVING__GRPC_PORT", "0")

from mlsys_assets.settings import Settings, get_settings

if TYPE_CHECKING:
    from tests.serving.world import World


@pytest.fixture
def mlsys_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty MLSYS_HOME, also set in the environment for code that reads get_settings()."""
    home = tmp_path / "mlsys"
    monkeypatch.setenv("MLSYS_HOME", str(home))
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


@pytest.fixture
def settings(mlsys_home: Path) -> Settings:
    return Settings(home=mlsys_home)


@pytest.fixture(scope="session")
def world_template(tmp_path_factory: pytest.TempPathFactory) -> World:
    """A real world: reference data, offline and online features, and real models in a real
    MLflow registry, built once per change of its inputs (``tests/cached_worlds.py``) and
    copied once per session. Serving and loop tests copy it or read it."""
    from tests.cached_worlds import serving_world  # MLflow, XGBoost: only when a test needs it

    return serving_world(tmp_path_factory.mktemp("serving-world") / "home")


# `make test` runs two pytest-xdist workers. A group of tests runs on one worker, one test after
# another; a group is a test file, or one of the groups below:
# - the demo's end-to-end tests share one fixture (a quick demo, the longest piece of the suite):
#   handed out first, so the rest of the suite runs beside it on the other worker;
# - the other tests that start a whole live system (demo stops, chaos) go to the demo's worker
#   right after the demo, never to the other one: two live systems side by side on two cores
#   starve against their timeouts, and handed out last they left the other worker idle;
# - integration tests share the PostgreSQL and Redis of `make services`.
_GROUPS = {
    "tests/e2e/test_demo.py": "demo",
    "tests/integration/": "backends",
    "tests/e2e/": "live-system",
    "tests/chaos/": "live-system",
}
_LIVE = ("demo", "live-system")  # groups that start a live system: one worker runs them all
_ORDER = {"demo": 0, "live-system": 1, "backends": 2}  # a test file's group: 3


def _group(nodeid: str) -> str:
    for prefix, group in _GROUPS.items():
        if nodeid.startswith(prefix):
            return group
    return nodeid.split("::", 1)[0]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On a pytest-xdist worker, the tests in the order their groups are handed out (a stable
    sort: every worker collects the same order, as xdist requires)."""
    if hasattr(config, "workerinput"):
        items.sort(key=lambda item: _ORDER.get(_group(item.nodeid), 3))


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """Whole groups (``_GROUPS``, else a file) to one worker, in collection order, the live
    systems all to one worker (``tests/scheduling.py``)."""
    from tests.scheduling import group_scheduling

    config.option.loadscopereorder = False  # in collection order: _ORDER
    return group_scheduling(config, log, group=_group, live=_LIVE)
