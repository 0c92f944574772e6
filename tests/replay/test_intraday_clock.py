"""The replay clock moves in minutes: each source publishes exactly what is known by then."""

from __future__ import annotations

import datetime as dt

import pytest

from mlsys_assets.clock import read_clock_state
from mlsys_assets.replay.publish import Replayer, flights_path, local_instant
from mlsys_assets.resources.event_stream import FileEventStream
from mlsys_assets.resources.source_database import SourceDatabase
from mlsys_assets.settings import Settings

DAY = dt.date(2013, 1, 3)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Replayer]:
    settings = Settings(home=tmp_path_factory.mktemp("intraday"))
    replayer = Replayer(settings)
    replayer.advance(local_instant(dt.datetime(2013, 1, 3, 14, 30)))
    return settings, replayer


def _weather_hours(settings: Settings) -> set[str]:
    stream = FileEventStream(root=str(settings.landing_dir / "events"))
    return {e.payload["record"]["time_hour"] for e in stream.read("weather", after=0)}


def test_weather_of_the_current_hour_is_absent_and_the_previous_hour_present(world) -> None:
    settings, _ = world
    hours = _weather_hours(settings)
    # 14:30 New York is 19:30 UTC: the 18:00-19:00 UTC hour is over, the 19:00 one is not.
    assert "2013-01-03T18:00:00Z" in hours
    assert "2013-01-03T19:00:00Z" not in hours
    assert max(hours) == "2013-01-03T18:00:00Z"


def test_outcome_files_wait_for_the_end_of_their_day(world) -> None:
    settings, _ = world
    landing = settings.landing_dir
    assert flights_path(landing, DAY - dt.timedelta(days=1)).exists()
    assert not flights_path(landing, DAY).exists()
    assert read_clock_state(landing).last_day == DAY - dt.timedelta(days=1)


def test_the_schedule_is_published_a_day_ahead(world) -> None:
    settings, _ = world
    stream = FileEventStream(root=str(settings.landing_dir / "events"))
    days = {e.payload["day"] for e in stream.read("schedule", after=0)}
    assert days == {"2013-01-01", "2013-01-02", "2013-01-03", "2013-01-04"}


def test_planes_appear_when_their_first_day_starts(world) -> None:
    settings, _ = world
    planes = SourceDatabase(url=settings.source_db).read("planes")
    assert planes["created_at"].max() <= dt.datetime(2013, 1, 3, 5, 0)  # start of Jan 3 (UTC)


def test_an_event_at_exactly_now_waits_unless_inclusive(world) -> None:
    settings, replayer = world
    hour_end = local_instant(dt.datetime(2013, 1, 3, 15, 0))  # the 14:00 local hour's end
    replayer.advance(hour_end, inclusive=False)
    assert "2013-01-03T19:00:00Z" not in _weather_hours(settings)
    replayer.advance(hour_end, inclusive=True)
    assert "2013-01-03T19:00:00Z" in _weather_hours(settings)
    assert replayer.advance(hour_end, inclusive=False).published_anything is False  # never back


def test_the_day_file_lands_when_the_day_ends(world) -> None:
    settings, replayer = world
    replayer.advance(local_instant(dt.datetime(2013, 1, 4, 0, 0)))
    assert flights_path(settings.landing_dir, DAY).exists()
    assert read_clock_state(settings.landing_dir).last_day == DAY
