"""One backtest run for the whole session: ``test_backtest`` and ``test_verdicts`` read the
same result (a backtest of four months costs half a minute on two cores)."""

from __future__ import annotations

import duckdb
import pytest

from mlsys_assets.backtest import BacktestConfig, BacktestResult, run_backtest
from mlsys_assets.settings import Settings
from tests.backtest.world import END, START, settings_for
from tests.reference_data import load_reference


@pytest.fixture(scope="session")
def settings_bt(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = settings_for(tmp_path_factory.mktemp("backtest") / "mlsys")
    settings.home_dir.mkdir(parents=True)
    conn = duckdb.connect(str(settings.warehouse_path))
    load_reference(conn, START, END)
    conn.close()
    return settings


@pytest.fixture(scope="session")
def result(settings_bt: Settings) -> BacktestResult:
    config = BacktestConfig(start=START, end=END, initial_months=2, step_days=7)
    return run_backtest(settings_bt, config)
