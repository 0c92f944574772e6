"""The policy backtest on a real short period: Jan-Apr 2013, first model on Jan-Feb, weekly steps.

One backtest run (the session fixture of conftest.py) is shared by the behaviour tests: retrain counts per policy,
the drift rule (threshold and cooldown), no scoring by a model that saw the scored day, and the
report files. The warehouse holds the raw tables from the reference loader; the backtest itself
computes the offline features it finds missing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from mlsys_assets.backtest import BacktestResult
from mlsys_assets.backtest.data import missing_feature_days
from mlsys_assets.backtest.frame import load_period
from mlsys_assets.backtest.models import training_set_from_period
from mlsys_assets.backtest.policies import DRIFT, INITIAL, MONTH_START, VOLUME, retrain_windows
from mlsys_assets.backtest.report import summer_verdict, write_reports
from mlsys_assets.cli import main
from mlsys_assets.resources.warehouse import Warehouse
from mlsys_assets.settings import Settings, get_settings
from mlsys_assets.training.pipeline import build_training_set
from tests.backtest.world import END, ENV, START


def test_missing_features_are_computed(settings_bt: Settings, result: BacktestResult) -> None:
    assert result.data is not None and result.data.ingested is None  # raw tables were there
    assert result.data.features_computed == (START, END)
    with Warehouse(path=str(settings_bt.warehouse_path)).connect(read_only=True) as conn:
        assert missing_feature_days(conn, START, END) == []


def test_retrain_counts_per_policy(result: BacktestResult) -> None:
    runs = result.runs
    assert [r.reason for r in runs["never"].retrains] == [INITIAL]
    assert runs["never"].retrain_count == 0
    # the walk starts on Mar 1 (the first model saw Jan-Feb): one month boundary, Apr 1
    monthly = [r for r in runs["monthly"].retrains if r.reason != INITIAL]
    assert [(r.reason, r.serves_from, r.data_day) for r in monthly] == [
        (MONTH_START, dt.date(2013, 4, 1), dt.date(2013, 3, 31))
    ]
    assert runs["drift"].retrain_count == sum(c.retrained for c in runs["drift"].checks)
    assert runs["drift"].retrain_count >= 1  # a 0.1 share is crossed in March/April
    assert {r.reason for r in runs["drift"].retrains} <= {INITIAL, DRIFT}
    assert {r.reason for r in runs["volume"].retrains} <= {INITIAL, VOLUME}


def test_volume_retrains_once_enough_flights_landed(
    settings_bt: Settings, result: BacktestResult
) -> None:
    assert result.period is not None
    retrains = result.runs["volume"].retrains
    assert len(retrains) >= 2  # Mar-Apr hold far more than 20,000 flights
    for before, after in zip(retrains, retrains[1:], strict=False):
        landed = result.period.landed(before.data_day, after.data_day)
        assert landed >= settings_bt.loop.retrain_min_new_labels
        assert after.signal == f"{landed} labelled rows since {before.data_day}"
        assert (after.data_day - before.data_day).days >= settings_bt.loop.retrain_cooldown_days


def test_drift_retrains_follow_threshold_and_cooldown(
    settings_bt: Settings, result: BacktestResult
) -> None:
    run = result.runs["drift"]
    threshold, cooldown = (
        settings_bt.loop.retrain_drift_share,
        settings_bt.loop.retrain_cooldown_days,
    )
    last_retrain = result.config.initial_day
    for check in run.checks:  # in day order: one per weekly step but the last
        if (check.day - last_retrain).days < cooldown:
            assert check.blocked and not check.retrained, check
        else:
            assert check.blocked is None, check
            assert check.retrained == (check.drift_share >= threshold), check
        if check.retrained:
            last_retrain = check.day
    retrained_days = [r.data_day for r in run.retrains]
    assert all(
        (b - a).days >= cooldown for a, b in zip(retrained_days, retrained_days[1:], strict=False)
    )
    drift_retrains = [r for r in run.retrains if r.reason == DRIFT]
    shares = {c.day: c.drift_share for c in run.checks}
    assert all(shares[r.data_day] >= threshold for r in drift_retrains)
    assert all(r.serves_from == r.data_day + dt.timedelta(days=1) for r in drift_retrains)
    assert len(run.checks) == 9  # Mar 1-7, 8-14, 15-21, 22-28, 29-31, Apr 1-7, 8-14, 15-21, 22-28


def test_no_day_is_scored_by_a_model_that_saw_it(result: BacktestResult) -> None:
    scored = result.scored
    assert set(scored["policy"]) == {"never", "monthly", "drift", "volume"}
    assert (scored["model_data_day"] < scored["day"]).all()
    assert scored["day"].min() == dt.date(2013, 3, 1) and scored["day"].max() == END
    assert scored["score"].notna().all() and scored["label"].isin([0.0, 1.0]).all()
    for data_day, model in result.models.items():  # every window ends at the model's data day
        assert model.windows.span.end == data_day
        assert model.windows.train.start >= START
    # every policy scores the same flights; never's are all the first model's
    sizes = scored.groupby("policy").size()
    assert sizes.nunique() == 1
    never = scored[scored["policy"] == "never"]
    assert set(never["model_data_day"]) == {dt.date(2013, 2, 28)}
    # models are shared: monthly's April model is trained once, whatever serves it
    served = {d for run in result.runs.values() for d in run.served.values()}
    assert served == set(result.models)


def test_live_auc_is_reasonable(result: BacktestResult) -> None:
    daily = result.daily
    assert len(daily) == 4 * 61  # four policies x Mar 1..Apr 30
    assert daily["roc_auc"].between(0.5, 1.0).mean() > 0.9


def test_training_set_is_the_retrain_jobs(settings_bt: Settings, result: BacktestResult) -> None:
    """The set cut from the shared frame has the digest of ``select_training_set``'s."""
    del result  # features computed
    period = load_period(settings_bt, START, END)
    windows = retrain_windows(settings_bt, dt.date(2013, 3, 31), START)
    mine = training_set_from_period(period, windows, settings_bt)
    with Warehouse(path=str(settings_bt.warehouse_path)).connect(read_only=True) as conn:
        theirs = build_training_set(conn, settings_bt, windows, settings_bt.seed)
    assert len(mine.frame) == len(theirs.frame)
    assert mine.spec == theirs.spec
    assert mine.digest == theirs.digest


def test_reports_are_written(tmp_path: Path, result: BacktestResult) -> None:
    paths = write_reports(result, tmp_path / "backtest")
    for path in paths.values():
        assert path.exists() and path.stat().st_size > 0
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    monthly = pd.read_csv(paths["monthly"])
    assert set(monthly["month"]) == {"2013-03", "2013-04"}
    april = monthly.set_index(["policy", "month"])
    assert april.loc[("monthly", "2013-04"), "retrains"] == 1
    assert april.loc[("never", "2013-04"), "retrains"] == 0
    retrains = pd.read_csv(paths["retrains"])
    assert len(retrains) == sum(len(r.retrains) for r in result.runs.values())
    assert summer_verdict(result).holds is None  # no summer month in Jan-Apr


def test_command_prints_the_table_and_writes_the_files(
    settings_bt: Settings, result: BacktestResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    del result  # features computed
    monkeypatch.setenv("MLSYS_HOME", str(settings_bt.home_dir))
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        out = CliRunner().invoke(
            main,
            ["backtest", "--policy", "never", "--policy", "monthly", "--from", "2013-01-01",
             "--to", "2013-03-31", "--initial-months", "2", "--step-days", "7",
             "--workers", "1"],
        )  # fmt: skip
    finally:
        get_settings.cache_clear()
    assert out.exit_code == 0, out.output
    header = next(line for line in out.output.splitlines() if line.startswith("month "))
    assert header.split() == ["month", "never", "monthly"]
    assert "2013-03" in out.output and "2013-04" not in out.output  # only the walked month
    assert "summer verdict: not applicable" in out.output
    reports = settings_bt.reports_dir / "backtest"
    assert (reports / "backtest.png").exists()
    assert set(pd.read_csv(reports / "backtest_monthly.csv")["policy"]) == {"never", "monthly"}
