"""Policy backtest: replay the year under a retraining policy, without the HTTP layer.

``mlsys backtest --policy never|monthly|drift`` trains a first model on the first months, walks
the remaining days, and scores each day offline with the model the policy would be serving
(point-in-time features, models trained only on data before the day), retraining as the policy
says. It reports live ROC AUC per month and the retrains of each policy side by side.

Public API: ``run_backtest(settings, BacktestConfig(...))`` -> ``BacktestResult``;
``monthly_table``, ``write_reports``, ``summer_verdict``. Not a Dagster layer: a command.
"""

from mlsys_assets.backtest.engine import (
    BacktestConfig,
    BacktestResult,
    monthly_table,
    run_backtest,
)

__all__ = ["BacktestConfig", "BacktestResult", "monthly_table", "run_backtest"]
