"""Replayed landing zones shared by the ingestion tests (replaying is the slow part).

Each is replayed once per session into a temporary folder; a test gets its own copy under its
own MLSYS_HOME, so tests never see each other's warehouse or stream cursor.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from mlsys_assets.replay import replay
from mlsys_assets.settings import Settings

FAULTY_UNTIL = dt.date(2013, 1, 10)
CLEAN_UNTIL = dt.date(2013, 1, 3)


def _replayed(root: Path, until: dt.date, faults: bool) -> Path:
    replay(Settings(home=root), until, faults=faults, seed=42)
    return root


@pytest.fixture(scope="session")
def faulty_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sources up to 2013-01-10 with every fault injected (seed 42)."""
    return _replayed(tmp_path_factory.mktemp("faulty"), FAULTY_UNTIL, faults=True)


@pytest.fixture(scope="session")
def clean_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sources up to 2013-01-03 without faults."""
    return _replayed(tmp_path_factory.mktemp("clean"), CLEAN_UNTIL, faults=False)


def copy_home(source: Path, home: Path) -> Settings:
    """A fresh MLSYS_HOME holding a copy of the replayed sources (no warehouse yet)."""
    shutil.copytree(source / "landing", home / "landing")
    shutil.copy(source / "source.sqlite", home / "source.sqlite")
    return Settings(home=home)


def read_faults(settings: Settings) -> dict[str, Any]:
    return json.loads((settings.landing_dir / "_faults.json").read_text())
