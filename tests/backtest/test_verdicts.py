"""The verdicts' accuracy in the backtest: every retrain judged as a challenger, both rules.

Reuses the short backtest of ``test_backtest`` (Jan-Apr, first model on Jan-Feb, weekly steps):
its monthly and drift retrains are the challengers; the truth is both models on the next 30 days.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from mlsys_assets.backtest import BacktestResult
from mlsys_assets.backtest.verdicts import (
    BETTER,
    EQUAL,
    WORSE,
    challengers,
    closing_line,
    format_verdicts,
    judge_challengers,
    summary,
)
from mlsys_assets.cli import main
from mlsys_assets.settings import Settings, get_settings
from tests.backtest.world import ENV

pytestmark = pytest.mark.slow  # the session's backtest (tests/backtest/conftest.py)


def test_every_retrain_is_a_challenger_of_the_model_it_replaces(
    result: BacktestResult,
) -> None:
    found = challengers(result)
    retrains = [r for run in result.runs.values() for r in run.retrains if r.reason != "initial"]
    assert len(found) == len(retrains) > 0
    for policy, champion, challenger, first in found:
        assert champion < challenger < first  # the new model learnt from later data
        assert result.runs[policy].served[first] == challenger


def test_each_challenger_gets_the_truth_and_both_verdicts(
    result: BacktestResult,
    settings_bt: Settings,
) -> None:
    assert result.period is not None
    table = judge_challengers(result, result.period, settings_bt)
    assert len(table) == len(challengers(result))
    assert set(table["truth"]) <= {BETTER, WORSE, EQUAL}
    assert set(table["paired"]) <= {"promote", "rollback", "keep"}
    assert set(table["unpaired"]) <= {"promote", "rollback", "keep"}
    assert (table["paired_days"] >= 1).all() and (table["unpaired_days"] >= 1).all()
    for _, row in table.iterrows():  # right means: better promoted, worse not promoted
        if row["truth"] == BETTER:
            assert row["paired_right"] == (row["paired"] == "promote")
        elif row["truth"] == WORSE:
            assert row["paired_right"] == (row["paired"] != "promote")
        else:
            assert row["paired_right"] is None
    total = summary(table).set_index("policy").loc["all"]
    assert total["challengers"] == len(table)
    line = closing_line(table)
    assert set(line) >= {
        "verdict_accuracy",
        "median_labelled_days",
        "unpaired_verdict_accuracy",
        "unpaired_median_labelled_days",
        "challengers",
    }
    assert line["median_labelled_days"] == pytest.approx(table["paired_days"].median())
    assert "unpaired: right" in format_verdicts(table)


def test_the_command_ends_with_one_json_line(
    settings_bt: Settings,
    result: BacktestResult,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    del result  # features computed
    monkeypatch.setenv("MLSYS_HOME", str(settings_bt.home_dir))
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        out = CliRunner().invoke(
            main,
            ["backtest", "--policy", "monthly", "--from", "2013-01-01", "--to", "2013-04-30",
             "--initial-months", "2", "--step-days", "7", "--workers", "1", "--verdicts"],
        )  # fmt: skip
    finally:
        get_settings.cache_clear()
    assert out.exit_code == 0, out.output
    last = json.loads(out.output.strip().splitlines()[-1])
    assert last["challengers"] == 1  # April 1 (the walk starts on March 1)
    assert "canary verdicts: paired = paired log loss, asymptotic confidence sequence" in out.output
    csv = pd.read_csv(settings_bt.reports_dir / "backtest" / "verdicts.csv")
    assert len(csv) == 1
