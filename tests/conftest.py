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
