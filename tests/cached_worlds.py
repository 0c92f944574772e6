"""The serving world (``tests/serving/world.py``) built once per change of its inputs.

Building it trains and registers two models (a minute or two on two cores); the result is
kept under ``.test-cache/`` keyed by a digest of mlsys's source, the world builder and the
library versions, and each session copies it. MLflow's database holds absolute paths
(artifact locations), so the copy's are rewritten to the copy's home.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
from pathlib import Path

from mlsys_assets.settings import Settings
from tests.reference_data import PACKAGES, ROOT, SOURCES, cached
from tests.serving.world import World, build_world

WORLD_SOURCES = (*SOURCES, ROOT / "tests" / "serving" / "world.py", Path(__file__))
WORLD_PACKAGES = (*PACKAGES, "xgboost", "mlflow", "optuna", "scikit-learn")


def _build(folder: Path) -> None:
    home = folder / "home"
    world = build_world(Settings(home=home))
    record = {
        "home": str(world.settings.home_dir),
        "champion": world.champion,
        "challenger": world.challenger,
        "next_day": world.next_day.isoformat(),
    }
    (folder / "world.json").write_text(json.dumps(record))


def relocate_mlflow(database: Path, old: str, new: str) -> None:
    """Rewrite every text value of MLflow's database that names ``old`` to name ``new``."""
    with sqlite3.connect(database) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for column in [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]:
                conn.execute(
                    f'UPDATE "{table}" SET "{column}" = replace("{column}", ?, ?) '
                    f'WHERE typeof("{column}") = \'text\' AND instr("{column}", ?) > 0',
                    [old, new, old],
                )


def serving_world(home: Path) -> World:
    """A copy of the cached serving world in ``home`` (which must not exist yet)."""
    folder = cached("serving-world", _build, sources=WORLD_SOURCES, packages=WORLD_PACKAGES)
    record = json.loads((folder / "world.json").read_text())
    shutil.copytree(folder / "home", home)
    settings = Settings(home=home)
    relocate_mlflow(settings.mlflow_dir / "mlflow.db", record["home"], str(settings.home_dir))
    return World(
        settings,
        record["champion"],
        record["challenger"],
        dt.date.fromisoformat(record["next_day"]),
    )
