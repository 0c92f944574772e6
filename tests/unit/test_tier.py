"""The unit tier stays light: importing all of it loads neither MLflow nor XGBoost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HEAVY = ("mlflow", "xgboost", "optuna", "serving")


def test_the_unit_tier_imports_neither_mlflow_nor_xgboost() -> None:
    modules = sorted(f"tests.unit.{p.stem}" for p in Path(__file__).parent.glob("test_*.py"))
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    root = Path(__file__).parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "", f"the unit tier imports {done.stdout.strip()}"
