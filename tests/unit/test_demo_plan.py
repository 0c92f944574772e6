"""The demo's plan and home: weekly steps that tile the period, and no foreign folder deleted."""

from __future__ import annotations

import datetime as dt

import pytest

from mlsys_assets.demo.home import MARKER, HomeNotOurs, reset_home
from mlsys_assets.demo.plan import FULL, QUICK


@pytest.mark.parametrize("plan", [QUICK, FULL], ids=["quick", "full"])
def test_steps_tile_the_period_after_the_bootstrap(plan) -> None:
    steps = plan.steps()
    assert steps[0][0] == plan.bootstrap_until + dt.timedelta(days=1)
    assert steps[-1][1] == plan.end
    for (_, last), (first, _) in zip(steps, steps[1:], strict=False):
        assert first == last + dt.timedelta(days=1)
    assert all((last - first).days < plan.step_days for first, last in steps)


def test_a_home_made_by_mlsys_is_emptied(tmp_path) -> None:
    home = tmp_path / "home"
    reset_home(home)
    (home / "warehouse.duckdb").write_text("old world")
    reset_home(home)
    assert sorted(p.name for p in home.iterdir()) == [MARKER]


def test_a_foreign_folder_is_never_deleted(tmp_path) -> None:
    (tmp_path / "thesis.tex").write_text("precious")
    with pytest.raises(HomeNotOurs, match="not created by mlsys"):
        reset_home(tmp_path)
    assert (tmp_path / "thesis.tex").read_text() == "precious"
