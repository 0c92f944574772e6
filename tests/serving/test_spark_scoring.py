"""Batch scoring on Spark (local mode) through ``mlflow.pyfunc.spark_udf`` = the DuckDB path."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from mlsys_assets.resources import build_resources
from mlsys_assets.resources.warehouse import Warehouse
from mlsys_assets.scoring.assets import batch_scores
from mlsys_assets.settings import get_settings
from tests.serving.world import LAST_DAY, World

HAVE_PYSPARK = importlib.util.find_spec("pyspark") is not None
HAVE_JAVA = shutil.which("java") is not None or bool(os.environ.get("JAVA_HOME"))
needs_spark = pytest.mark.skipif(
    not (HAVE_PYSPARK and HAVE_JAVA),
    reason="Spark scoring needs pyspark (pip install 'mlsys[spark]') and a Java 17+ runtime",
)
ORDER = "ORDER BY flight_date, carrier, flight, origin"


@pytest.fixture(scope="module")
def spark_engine() -> Iterator[None]:
    """One local SparkSession for the module, stopped at its end."""
    from mlsys_assets.scoring.spark import spark_session, stop_spark

    spark_session(get_settings().serving.spark_master)
    yield
    stop_spark()


def _materialize(world: World, engine: str) -> pd.DataFrame:
    settings = world.settings.replace(serving={"batch_engine": engine})  # the run's setting
    result = dg.materialize(
        [batch_scores],
        partition_key=str(LAST_DAY),
        resources=build_resources(settings),
    )
    assert result.success
    metadata = result.asset_materializations_for_node("batch_scores")[0].metadata
    assert metadata["engine"].value == engine
    with Warehouse(path=str(world.settings.warehouse_path)).connect(read_only=True) as conn:
        scores = conn.execute(f"SELECT * FROM serving.batch_scores {ORDER}").df()
    assert len(scores) == metadata["dagster/row_count"].value
    return scores.drop(columns=["scored_at"])


@pytest.mark.slow
@needs_spark
def test_spark_batch_scores_equal_duckdb_batch_scores(world: World, spark_engine: None) -> None:
    duckdb_scores = _materialize(world, "duckdb")
    spark_scores = _materialize(world, "spark")  # replaces the partition's rows

    assert len(spark_scores) == len(duckdb_scores) > 100
    assert set(spark_scores["model_version"]) == {world.champion}
    keys = ["flight_date", "carrier", "flight", "origin"]
    pd.testing.assert_frame_equal(spark_scores[keys], duckdb_scores[keys])
    pd.testing.assert_series_equal(
        spark_scores["delay_probability"],
        duckdb_scores["delay_probability"],
        rtol=0,
        atol=1e-9,
    )
    assert spark_scores["delayed"].tolist() == duckdb_scores["delayed"].tolist()
    rest = [c for c in duckdb_scores.columns if c != "delay_probability"]
    pd.testing.assert_frame_equal(spark_scores[rest], duckdb_scores[rest])


# pyspark made unimportable, as on an install without the `spark` extra. (Importable, it would be
# imported anyway: pandera imports pyspark.pandas whenever pyspark is installed.)
NO_PYSPARK = """
import sys
sys.modules["pyspark"] = sys.modules["py4j"] = None  # `import pyspark...` raises ImportError

import json
import dagster as dg
import mlsys_assets.definitions  # every asset module, as the code location loads them
from mlsys_assets.resources import build_resources
from mlsys_assets.scoring.assets import batch_scores
from mlsys_assets.settings import Settings

settings = Settings()
result = dg.materialize(
    [batch_scores],
    partition_key=sys.argv[1],
    resources=build_resources(settings),
    raise_on_error=False,
)
metadata = result.asset_materializations_for_node("batch_scores")[0].metadata if result.success else {}
print(json.dumps({"success": result.success, "engine": metadata["engine"].value if metadata else None}))
"""


@pytest.mark.slow
def test_the_default_engine_scores_without_pyspark(world: World, tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MLSYS_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env["MLSYS_HOME"] = str(world.settings.home_dir)
    completed = subprocess.run(
        [sys.executable, "-c", NO_PYSPARK, str(LAST_DAY)],
        env=env,
        cwd=tmp_path,  # no .env of the work tree
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report == {"success": True, "engine": "duckdb"}, completed.stderr[-3000:]
