"""The landing sensor asks for one run per new replayed day range or late file, never twice."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from mlsys_assets.loop.sensors import new_landing_data
from mlsys_assets.replay import replay
from mlsys_assets.resources.landing_zone import LandingZone
from tests.ingestion.conftest import copy_home, read_faults


def _tick(settings, cursor: str | None):
    context = dg.build_sensor_context(
        cursor=cursor, resources={"landing_zone": LandingZone(path=str(settings.landing_dir))}
    )
    return new_landing_data(context), context.cursor


def _range(request: dg.RunRequest) -> tuple[str, str]:
    return (
        request.tags["dagster/asset_partition_range_start"],
        request.tags["dagster/asset_partition_range_end"],
    )


def test_one_request_per_new_data(faulty_source, mlsys_home) -> None:
    settings = copy_home(faulty_source, mlsys_home)  # replayed to Jan 10
    first, cursor = _tick(settings, None)
    assert _range(first) == ("2013-01-01", "2013-01-10")
    again, cursor = _tick(settings, cursor)
    assert isinstance(again, dg.SkipReason)

    replay(settings, dt.date(2013, 1, 11), faults=True, seed=42)
    later, cursor = _tick(settings, cursor)
    assert _range(later) == ("2013-01-11", "2013-01-11")


def test_a_late_file_reopens_its_day(mlsys_home) -> None:
    from mlsys_assets.settings import Settings

    settings = Settings(home=mlsys_home)
    replay(settings, dt.date(2013, 1, 1), faults=True, seed=42)
    late = dt.date.fromisoformat(read_faults(settings)["plan"]["late_day"])
    replay(settings, late + dt.timedelta(days=1), faults=True, seed=42)
    _, cursor = _tick(settings, None)
    replay(settings, late + dt.timedelta(days=2), faults=True, seed=42)  # the late file lands
    request, _ = _tick(settings, cursor)
    assert _range(request) == (late.isoformat(), (late + dt.timedelta(days=2)).isoformat())


def test_a_file_landing_before_the_clock_moves_never_asks_for_an_empty_range(
    faulty_source, mlsys_home
) -> None:
    settings = copy_home(faulty_source, mlsys_home)  # replayed to Jan 10
    _, cursor = _tick(settings, None)
    # The producer wrote Jan 11's file but has not yet moved the clock past Jan 10.
    early = settings.landing_dir / "flights" / "date=2013-01-11" / "flights.csv"
    early.parent.mkdir(parents=True)
    early.write_bytes((settings.landing_dir / "flights/date=2013-01-10/flights.csv").read_bytes())
    waiting, cursor = _tick(settings, cursor)
    assert isinstance(waiting, dg.SkipReason)  # not a run for 2013-01-11..2013-01-10

    replay(settings, dt.date(2013, 1, 11), faults=True, seed=42)
    later, _ = _tick(settings, cursor)
    assert _range(later) == ("2013-01-11", "2013-01-11")
