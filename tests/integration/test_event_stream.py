"""The weather event stream on each backend: the same contract on files and on Redis Streams, and
a consumer killed between read and ack loses nothing and doubles nothing.

Each test runs once per backend (``file`` always; ``redis`` against the server of
``make services``, skipped with the reason when it is not there). The consumer that dies is a
real separate process killed with SIGKILL, so nothing of it runs after the kill.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mlsys_assets.clock import day_end_utc
from mlsys_assets.ingestion.weather import CONSUMER, TOPIC, ingest_weather
from mlsys_assets.nycflights import read_table
from mlsys_assets.raw_tables import canonical_weather
from mlsys_assets.replay.publish import _WeatherFeed
from mlsys_assets.resources.backends import build_event_stream
from mlsys_assets.resources.event_stream import EventStream, FileEventStream
from mlsys_assets.resources.redis_event_stream import RedisEventStream
from mlsys_assets.resources.warehouse import Warehouse
from mlsys_assets.settings import Settings
from tests.integration import crashing_consumer
from tests.integration.conftest import URLS

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
START, END = dt.date(2013, 1, 1), dt.date(2013, 1, 3)


@pytest.fixture(params=["file", "redis"])
def backend_env(
    request: pytest.FixtureRequest, mlsys_home: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """``MLSYS_*`` variables selecting the parameter's stream, for this process and children."""
    env = {"MLSYS_HOME": str(mlsys_home), "MLSYS_BACKENDS__EVENT_STREAM": request.param}
    if request.param == "redis":
        env |= {
            "MLSYS_BACKENDS__REDIS_URL": URLS.redis_url,
            "MLSYS_BACKENDS__REDIS_PREFIX": request.getfixturevalue("redis_prefix"),
        }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def stream(backend_env: dict[str, str]) -> EventStream:
    built = build_event_stream(Settings())
    kind = (
        FileEventStream
        if backend_env["MLSYS_BACKENDS__EVENT_STREAM"] == "file"
        else RedisEventStream
    )
    assert isinstance(built, kind)
    return built


def _run_killed(env: dict[str, str], *args: str) -> str:
    """Run the crashing consumer; it must die by SIGKILL. Returns its output."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.integration.crashing_consumer", *args],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    return done.stdout


def _publish(stream: EventStream, until: dt.date) -> int:
    """The replay's weather producer (the days after the last one published, up to ``until``)."""
    published, _ = _WeatherFeed(stream, None, 42).publish(day_end_utc(until), inclusive=True)
    return published


def test_stream_contract(stream: EventStream) -> None:
    assert stream.last_offset("t") == 0 and stream.read("t", after=0) == []
    assert stream.append("t", [{"a": 1}, {"a": 2}, {"a": 3}]) == [1, 2, 3]
    assert stream.append("t", []) == []
    assert stream.append("t", [{"a": 4, "s": "x|y"}]) == [4]
    assert stream.last_offset("t") == 4
    assert [e.offset for e in stream.read("t", after=1)] == [2, 3, 4]
    assert [e.payload for e in stream.read("t", after=0, limit=2)] == [{"a": 1}, {"a": 2}]
    assert stream.read("t", after=3)[0].payload == {"a": 4, "s": "x|y"}
    assert stream.acked("t", "g") == 0
    stream.ack("t", "g", 3)
    assert stream.acked("t", "g") == 3
    assert [e.offset for e in stream.read_group("t", "g", "c")] == [4]
    assert stream.acked("t", "other") == 0  # groups are independent


def test_retention_removes_only_what_every_group_acknowledged(stream: EventStream) -> None:
    for start in range(0, 12, 3):  # four appends: offsets 1-3, 4-6, 7-9, 10-12
        stream.append("r", [{"n": n} for n in range(start, start + 3)])
    assert stream.trim_acked("r") == 0  # no consumer group yet: nothing goes
    stream.ack("r", "fast", 9)
    stream.ack("r", "slow", 6)
    assert stream.groups("r") == ["fast", "slow"]
    assert stream.trim_acked("r") == 6  # what both acknowledged, not what the fast one did
    assert [e.offset for e in stream.read("r", after=0)] == [7, 8, 9, 10, 11, 12]
    assert [e.offset for e in stream.read_group("r", "slow", "c")] == [7, 8, 9, 10, 11, 12]
    stream.ack("r", "slow", 12)
    stream.ack("r", "fast", 12)
    stream.trim_acked("r")
    assert stream.last_offset("r") == 12
    assert stream.append("r", [{"n": 12}]) == [13]  # offsets continue, never reused
    assert [e.offset for e in stream.read("r", after=0)][-1] == 13
    assert all(e.offset > 9 for e in stream.read("r", after=0))


def test_retention_keeps_the_newest_acknowledged_events_asked_for(stream: EventStream) -> None:
    for start in range(0, 12, 3):  # offsets 1-3, 4-6, 7-9, 10-12
        stream.append("k", [{"n": n} for n in range(start, start + 3)])
    stream.ack("k", "g", 12)
    assert stream.trim_acked("k", keep=20) == 0  # fewer acknowledged than kept: all stay
    assert stream.trim_acked("k", keep=3) == 9  # 1-9 go, the newest 3 acknowledged stay
    assert [e.offset for e in stream.read("k", after=0)] == [10, 11, 12]
    stream.append("k", [{"n": 13}])
    assert stream.trim_acked("k", ("late",), keep=0) == 0  # a named group not started yet


def test_group_consumer_killed_before_ack_gets_everything_again(
    stream: EventStream, backend_env: dict[str, str]
) -> None:
    offsets = stream.append(TOPIC, [{"n": i} for i in range(25)])
    out = _run_killed(backend_env, "group", "ack")
    assert out.strip() == "read 25"
    group, consumer = crashing_consumer.GROUP, crashing_consumer.CONSUMER
    assert stream.acked(TOPIC, group) == 0  # the kill came before the ack
    again = stream.read_group(TOPIC, group, consumer)
    assert [e.offset for e in again] == offsets  # re-delivered, in order, none lost
    assert [e.payload["n"] for e in again] == list(range(25))
    stream.ack(TOPIC, group, offsets[-1])
    assert stream.acked(TOPIC, group) == offsets[-1]
    assert stream.read_group(TOPIC, group, consumer) == []  # and then never again
    if isinstance(stream, RedisEventStream):
        assert stream.pending(TOPIC, group) == 0


@pytest.mark.parametrize("at", ["read", "ack"])
def test_ingestion_killed_between_read_and_ack_loses_and_doubles_nothing(
    backend_env: dict[str, str], stream: EventStream, at: str
) -> None:
    settings = Settings()
    published = _publish(stream, END)
    assert published == stream.last_offset(TOPIC) > 0

    out = _run_killed(backend_env, "ingest", at)
    assert out.strip() == f"read {published}"
    warehouse = Warehouse(path=str(settings.warehouse_path))
    with warehouse.connect() as conn:
        row = conn.execute(
            "SELECT last_offset FROM ingest.stream_cursors WHERE topic = ? AND consumer = ?",
            [TOPIC, CONSUMER],
        ).fetchone()
    # killed before the commit: nothing kept; after it: kept, but the stream was never told
    assert (row[0] if row else 0) == (0 if at == "read" else published)
    assert stream.acked(TOPIC, CONSUMER) == 0

    with warehouse.connect() as conn:
        report = ingest_weather(conn, stream, START, END, run_id="after-crash")
        offsets = conn.execute(
            "SELECT count(*), count(DISTINCT event_offset), min(event_offset), max(event_offset) "
            "FROM ingest.weather_events"
        ).fetchone()
        got = conn.execute("SELECT origin, time_hour FROM raw.weather ORDER BY ALL").fetchall()
    assert offsets == (published, published, 1, published)  # every event once
    totals = report.totals()
    assert totals["received"] == published and report.balanced()
    assert totals["quarantined"] == 0
    assert report.extra["events_consumed"] == (published if at == "read" else 0)
    weather = canonical_weather(read_table("weather"))
    weather = weather[(weather.obs_date >= START) & (weather.obs_date <= END)]
    pairs = zip(weather.origin, weather.time_hour, strict=True)
    expected = sorted({(origin, hour.to_pydatetime()) for origin, hour in pairs})
    assert got == expected  # nothing lost, nothing doubled

    # The stream's ack is bookkeeping (lag, trimming), never the source of truth: ingestion acks
    # only when it consumed events, so an ack lost to the kill is made up by the next batch.
    assert stream.acked(TOPIC, CONSUMER) == (published if at == "read" else 0)
    _publish(stream, END + dt.timedelta(days=1))
    with warehouse.connect() as conn:
        ingest_weather(conn, stream, END, END + dt.timedelta(days=1), run_id="next-day")
    assert stream.acked(TOPIC, CONSUMER) == stream.last_offset(TOPIC) > published
