"""The outbound `decisions` stream: a downstream consumer killed and restarted during a load
run ends with every answered decision exactly once, on the file log and on Redis Streams."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from mlsys_assets.downstream.follower import DecisionFollower
from mlsys_assets.processes import child_environment
from mlsys_assets.resources.backends import build_event_stream
from mlsys_assets.settings import Settings
from tests.integration.conftest import URLS
from tests.serving.conftest import LiveServer
from tests.serving.world import World, next_day_requests

pytestmark = [pytest.mark.integration, pytest.mark.slow]
GROUP = "billing"
LOAD_SECONDS = 6.0  # the consumer is killed a third and two thirds into it
MIN_ANSWERS = 300  # and the load goes on until more than this many, however busy the machine


@pytest.fixture(params=["file", "redis"])
def settings(request: pytest.FixtureRequest, world_template: World, tmp_path: Path) -> Settings:
    home = tmp_path / "home"
    shutil.copytree(
        world_template.settings.home_dir,
        home,
        ignore=shutil.ignore_patterns("predictions", "serving"),
    )
    backends: dict[str, object] = {}
    if request.param == "redis":
        backends = {
            "event_stream": "redis",
            "redis_url": SecretStr(URLS.redis_url),
            "redis_prefix": request.getfixturevalue("redis_prefix"),
        }
    return Settings(
        home=home,
        loop={"canary_share": 0.2},
        serving={"poll_seconds": 3600.0, "decisions_groups": [GROUP]},
        backends=backends,
    )


class Follower:
    """``mlsys decisions follow`` as a real process, killed with SIGKILL (no cleanup)."""

    def __init__(self, settings: Settings, sink: Path) -> None:
        env = child_environment() | {
            "MLSYS_HOME": str(settings.home_dir),
            "MLSYS_BACKENDS__EVENT_STREAM": settings.backends.event_stream,
            "MLSYS_BACKENDS__REDIS_URL": settings.redis,
            "MLSYS_BACKENDS__REDIS_PREFIX": settings.backends.redis_prefix,
        }
        argv = [sys.executable, "-m", "mlsys_assets.cli", "decisions", "follow"]
        self.popen = subprocess.Popen(
            [*argv, "--sink", str(sink), "--group", GROUP], env=env, start_new_session=True
        )

    def kill(self) -> None:
        os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait()


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    live = LiveServer(settings).start()
    yield live
    live.stop()


def test_a_restarted_consumer_ends_with_every_decision_once(
    settings: Settings, server: LiveServer, world_template: World, tmp_path: Path
) -> None:
    sink = tmp_path / "downstream.sqlite"
    flights = next_day_requests(world_template)
    answered: list[str] = []
    done = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=server.url) as client:
            started, i = time.monotonic(), 0
            while time.monotonic() - started < LOAD_SECONDS or i <= MIN_ANSWERS:
                body = flights[i % len(flights)] | {"request_id": f"d-{i}"}
                answer = client.post("/predict" if i % 3 else "/predict?explain=true", json=body)
                assert answer.status_code == 200
                answered.append(answer.json()["request_id"])
                i += 1
        done.set()

    follower = Follower(settings, sink)
    loader = threading.Thread(target=load)
    loader.start()
    for _ in range(2):  # killed mid-run twice, restarted at once
        time.sleep(LOAD_SECONDS / 3)
        follower.kill()
        follower = Follower(settings, sink)
    loader.join()
    reader = DecisionFollower(build_event_stream(settings), sink, group="reader-only")
    deadline = time.monotonic() + 60
    while reader.count() < len(answered) and time.monotonic() < deadline:
        time.sleep(0.2)
    lag = httpx.get(f"{server.url}/metrics").text
    follower.kill()

    keys = {row[0] for row in reader.db.execute("SELECT idempotency_key FROM decisions")}
    assert len(answered) > MIN_ANSWERS
    assert keys == set(answered) and reader.count() == len(answered)
    assert f'mlsys_decisions_lag{{group="{GROUP}"}} 0.0' in lag

    # Every decision delivered again (a new group reads from the start): nothing is doubled.
    before = reader.deliveries()
    replay = DecisionFollower(build_event_stream(settings), sink, group="replayed")
    while replay.poll():
        pass
    assert replay.deliveries() == before + len(answered)
    assert replay.count() == len(answered)
