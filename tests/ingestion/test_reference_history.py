"""Planes, airlines, airports keep valid-from/valid-to history of the source's changes."""

from __future__ import annotations

import datetime as dt

import duckdb

from mlsys_assets.ingestion.checks import history_consistency
from mlsys_assets.ingestion.reference import ingest_reference
from mlsys_assets.replay import replay
from mlsys_assets.resources.source_database import SourceDatabase
from mlsys_assets.settings import Settings
from tests.ingestion.conftest import read_faults


def test_a_plane_change_keeps_its_history(mlsys_home) -> None:
    settings = Settings(home=mlsys_home)
    replay(settings, dt.date(2013, 1, 1), faults=True, seed=42)
    plan = read_faults(settings)["plan"]
    change_day = dt.date.fromisoformat(plan["plane_change_day"])
    db = SourceDatabase(url=settings.source_db)

    def snapshot(run: str) -> dict[str, int]:
        with duckdb.connect(str(settings.warehouse_path)) as conn:
            report = ingest_reference(conn, db, "planes", run, dt.datetime(2013, 1, 1))
            assert history_consistency(conn, "planes", "tailnum").passed
        return report.extra

    replay(settings, change_day - dt.timedelta(days=1), faults=True, seed=42)
    snapshot("before")
    replay(settings, change_day, faults=True, seed=42)
    after = snapshot("after")
    assert after["versions_closed"] == 1  # the changed plane; new planes only open versions
    assert snapshot("again") == {"versions_opened": 0, "versions_closed": 0}

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        versions = conn.execute(
            "SELECT seats, valid_from, valid_to FROM raw.planes WHERE tailnum = ? ORDER BY valid_from",
            [plan["plane_tailnum"]],
        ).fetchall()
    changed_at = dt.datetime.fromisoformat(plan["plane_change_at"])
    assert versions == [
        (plan["plane_old"], dt.datetime(2013, 1, 1, 5, 0), changed_at),
        (plan["plane_new"], changed_at, None),
    ]
