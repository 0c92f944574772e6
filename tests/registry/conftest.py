"""The registry tests share the training tests' small world."""

from tests.training.conftest import (
    base_warehouse,
    conn,
    mlflow_template,
    tracking_settings,
    train_settings,
    windows,
)

__all__ = [
    "base_warehouse",
    "conn",
    "mlflow_template",
    "tracking_settings",
    "train_settings",
    "windows",
]
