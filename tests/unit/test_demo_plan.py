"""The demo's plan and home: live days that follow the bootstrap, and no foreign folder deleted."""

from __future__ import annotations

import datetime as dt

import pytest

from mlsys_assets.demo.home import MARKER, HomeNotOurs, reset_home
from mlsys_assets.demo.plan import FULL, QUICK


@pytest.mark.parametrize("plan", [QUICK, FULL], ids=["quick", "full"])
def test_live_days_follow_the_bootstrap_one_by_one(plan) -> None:
    days = plan.days()
    assert days[0] == plan.bootstrap_until + dt.timedelta(days=1)
    assert days[-1] == plan.end
    assert all(b - a == dt.timedelta(days=1) for a, b in zip(days, days[1:], strict=False))


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
