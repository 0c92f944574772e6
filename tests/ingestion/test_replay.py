"""The producers: atomic, idempotent, incremental, and faults reproducible from the seed."""

from __future__ import annotations

import datetime as dt
import json

from mlsys_assets.clock import replay_now
from mlsys_assets.replay import replay
from mlsys_assets.resources.event_stream import FileEventStream
from tests.ingestion.conftest import copy_home, read_faults


def _snapshot(landing):
    return {p.relative_to(landing): p.stat().st_mtime_ns for p in landing.rglob("*") if p.is_file()}


def test_rerun_publishes_and_rewrites_nothing(faulty_source, mlsys_home) -> None:
    settings = copy_home(faulty_source, mlsys_home)
    before = _snapshot(settings.landing_dir)
    summary = replay(settings, dt.date(2013, 1, 10), faults=True, seed=42)
    assert not summary.published_anything
    assert _snapshot(settings.landing_dir) == before
    assert replay_now(settings) == dt.datetime(2013, 1, 11, 5, 0)  # end of Jan 10, in UTC


def test_later_until_publishes_only_new_days(faulty_source, mlsys_home) -> None:
    settings = copy_home(faulty_source, mlsys_home)
    stream = FileEventStream(root=str(settings.landing_dir / "events"))
    last = stream.last_offset("weather")
    summary = replay(settings, dt.date(2013, 1, 11), faults=True, seed=42)
    assert summary.flight_files == ["flights/date=2013-01-11/flights.csv"]
    new = stream.read("weather", after=last)
    assert {e.payload["day"] for e in new} == {"2013-01-11"}
    assert [e.offset for e in new] == list(range(last + 1, last + 1 + len(new)))


def test_late_file_waits_two_days_and_faults_are_reproducible(tmp_path) -> None:
    from mlsys_assets.settings import Settings

    first = Settings(home=tmp_path / "a")
    replay(first, dt.date(2013, 1, 2), faults=True, seed=7)
    plan = read_faults(first)["plan"]
    late = dt.date.fromisoformat(plan["late_day"])
    missing = dt.date.fromisoformat(plan["missing_day"])
    replay(first, late + dt.timedelta(days=1), faults=True, seed=7)
    late_file = first.landing_dir / f"flights/date={late}/flights.csv"
    assert not late_file.exists()
    replay(first, late + dt.timedelta(days=2), faults=True, seed=7)
    assert late_file.exists()
    assert not (first.landing_dir / f"flights/date={missing}/flights.csv").exists() or (
        missing > late + dt.timedelta(days=2)
    )

    second = Settings(home=tmp_path / "b")  # the same seed in one go: the same faults
    replay(second, late + dt.timedelta(days=2), faults=True, seed=7)
    assert read_faults(second) == read_faults(first)
    assert json.loads((second.landing_dir / "_clock.json").read_text())["seed"] == 7
