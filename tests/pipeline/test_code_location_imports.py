"""Loading the code location stays cheap: every Dagster run process loads it before its first step.

The heavy libraries are imported inside the assets that use them, so an ingestion run never pays
for MLflow, XGBoost, Evidently, Optuna or matplotlib. Checked in a fresh interpreter (this one has them loaded).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# Imported by the assets that need them, never by `import mlsys_assets.definitions`.
LAZY = ["evidently", "optuna", "matplotlib", "pandera", "mlflow", "xgboost", "sklearn", "pyspark"]


def test_loading_the_code_location_imports_no_heavy_library(mlsys_home: Path) -> None:
    code = (
        "import json, sys\n"
        "import mlsys_assets.definitions\n"
        f"print(json.dumps([m for m in {LAZY!r} if m in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=os.environ | {"MLSYS_HOME": str(mlsys_home)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
