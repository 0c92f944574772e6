"""Shared fixtures: every test gets its own MLSYS_HOME under tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mlsys_assets.settings import Settings, get_settings


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
