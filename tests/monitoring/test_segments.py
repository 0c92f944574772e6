"""Segments: a carrier the model fails for is flagged and alerts a person once; calm days do not.

The world is the serving tests' (January 2013, a champion trained on January 1-16). Monitoring
runs over January 14-21 as ONE run (a catch-up), batch-scoring each day with the champion.
The degradation: one carrier's flights arrive 90 minutes later than they did on January 18-20
(its delay statistics shift; its features, computed before, do not), so the model fails for that
carrier only. (Shifting the carrier's delay-statistics *features* instead moves this small model's
scores for it by at most 0.2, about what a calm Sunday's evening bank shows: indistinguishable
from a normal day, so no test of it could be honest.)
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from mlsys_assets.ingestion.run import RANGE_END_TAG, RANGE_START_TAG
from mlsys_assets.monitoring.assets import segment_performance
from mlsys_assets.monitoring.daily import reference_or_none
from mlsys_assets.settings import Settings, get_settings
from tests.alerts.receiver import Receiver, webhook_receiver
from tests.monitoring.conftest import resources
from tests.serving.world import World

CARRIER = "B6"
FIRST, LAST = dt.date(2013, 1, 14), dt.date(2013, 1, 21)
BAD_DAYS = (dt.date(2013, 1, 18), dt.date(2013, 1, 20))


@pytest.fixture(scope="module")
def reference_world(world_template: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The world with the champion's monitoring reference built once (about 10 s)."""
    home = tmp_path_factory.mktemp("segments") / "home"
    shutil.copytree(world_template.settings.home_dir, home,
                    ignore=shutil.ignore_patterns("predictions", "serving"))  # fmt: skip
    settings = Settings(home=home)
    with duckdb.connect(str(settings.warehouse_path)) as conn:
        assert reference_or_none(conn, settings) is not None
    return home


@pytest.fixture
def monitored_world(
    reference_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Settings, Receiver]]:
    home = tmp_path / "home"
    shutil.copytree(reference_world, home)
    with webhook_receiver() as receiver:
        monkeypatch.setenv("MLSYS_HOME", str(home))
        monkeypatch.setenv("MLSYS_BACKENDS__ALERT_WEBHOOK_URL", receiver.url)
        get_settings.cache_clear()
        yield get_settings(), receiver
    get_settings.cache_clear()


def _monitor(settings: Settings) -> pd.DataFrame:
    result = dg.materialize(
        [segment_performance],
        resources=resources(settings),
        tags={RANGE_START_TAG: FIRST.isoformat(), RANGE_END_TAG: LAST.isoformat()},
    )
    assert result.success
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        return conn.execute("SELECT * FROM monitoring.segments ORDER BY day").df()


def test_a_carrier_the_model_fails_for_alerts_once(monitored_world) -> None:
    settings, receiver = monitored_world
    with duckdb.connect(str(settings.warehouse_path)) as conn:
        conn.execute(
            "UPDATE raw.flights SET arr_delay = arr_delay + 90 "
            "WHERE carrier = ? AND flight_date BETWEEN ? AND ?",
            [CARRIER, *BAD_DAYS],
        )
    table = _monitor(settings)

    days = set(pd.to_datetime(table["day"]).dt.date)
    assert days == {FIRST + dt.timedelta(days=i) for i in range(8)}  # every day, one run
    flagged = table[table["flagged"]]
    assert set(flagged["segment"]) == {CARRIER}  # no other carrier, origin or hour band
    assert set(pd.to_datetime(flagged["day"]).dt.date) == {dt.date(2013, 1, 19),
                                                           dt.date(2013, 1, 20)}  # fmt: skip
    worst = flagged.iloc[0]
    assert worst["calibration_gap"] < -0.5 and worst["p_adjusted"] < 0.01

    # One message when it starts (not one per bad day), one when it clears on January 21.
    key = f"segment:carrier={CARRIER}"
    assert len(receiver.bodies) == 2, receiver.texts()
    firing, resolved = receiver.texts()
    assert firing.startswith(":red_circle: FIRING") and key in firing
    assert "2013-01-19" in firing
    assert resolved.startswith(":white_check_mark: RESOLVED") and key in resolved
    assert receiver.bodies[0]["blocks"][0]["text"]["text"] == firing  # Slack's JSON shape


def test_calm_days_stay_silent(monitored_world) -> None:
    settings, receiver = monitored_world
    table = _monitor(settings)
    tested = table[table["p_adjusted"].notna()]
    assert len(tested) >= 8 * 10  # carriers, origins and hour bands with enough traffic
    assert not table["flagged"].any()
    assert receiver.bodies == []


@pytest.mark.slow
def test_one_run_monitors_every_day_of_a_range(monitored_world) -> None:
    """The whole monitoring group over a catch-up of three days: one run, a row per day in every
    table, a point per day in the overview, per-day reports served by URL."""
    from mlsys_assets.monitoring.assets import ASSETS
    from mlsys_assets.resources import build_resources

    settings, _ = monitored_world
    days = [dt.date(2013, 1, 19), dt.date(2013, 1, 20), dt.date(2013, 1, 21)]
    result = dg.materialize(
        ASSETS,
        resources=build_resources(settings),
        tags={RANGE_START_TAG: days[0].isoformat(), RANGE_END_TAG: days[-1].isoformat()},
    )
    assert result.success
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        for table in ["drift_summary", "prediction_drift", "performance_estimate",
                      "live_performance", "confidence", "class_balance", "business_cost",
                      "segments"]:  # fmt: skip
            held = conn.execute(f"SELECT DISTINCT day FROM monitoring.{table} ORDER BY day")
            assert [r[0] for r in held.fetchall()] == days, table
    drift = result.asset_materializations_for_node("feature_drift")
    assert sorted(m.partition for m in drift) == [d.isoformat() for d in days]
    metadata = drift[0].metadata
    assert metadata["days_monitored"].value == 3
    assert metadata["report_url"].value == f"{settings.reports_url}/drift/drift_2013-01-21.html"
    overview = result.asset_materializations_for_node("monitoring_overview")[0].metadata
    assert overview["days"].value == 3
