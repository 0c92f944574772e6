"""Cached test builds: built once per digest of their inputs, rebuilt when an input changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reference_data import CACHE_ENV, cached


def test_a_build_runs_once_per_inputs_and_again_for_new_ones(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    builds: list[Path] = []

    def build(path: Path) -> None:
        builds.append(path)
        path.write_text(f"build {len(builds)}")

    first = cached("thing.txt", build, "2013-01-01")
    again = cached("thing.txt", build, "2013-01-01")
    other = cached("thing.txt", build, "2013-01-02")
    assert first == again and first.read_text() == "build 1"
    assert other != first and other.read_text() == "build 2"
    assert len(builds) == 2
    assert not list((tmp_path / "cache").glob("*.partial"))  # only finished builds are kept


def test_a_failed_build_leaves_nothing_behind_to_reuse(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))

    def broken(path: Path) -> None:
        path.write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        cached("thing.txt", broken)
    assert cached("thing.txt", lambda p: p.write_text("whole")).read_text() == "whole"
