"""Serving fixtures: one real world built per session, copied per test; the app in-process or live.

``world`` gives each test its own copy of MLSYS_HOME (registry, online store, warehouse), so a
test may move aliases, delete the store or break the registry without touching the others.
"""

from __future__ import annotations

import dataclasses
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from mlsys_assets.settings import Settings
from serving.app import create_app
from tests.serving.world import World

ADMIN_TOKEN = "test-admin-token"


def _test_settings(home: Path) -> Settings:
    return Settings(
        home=home,
        backends={"admin_token": ADMIN_TOKEN},
        loop={"canary_share": 0.2},
        serving={"poll_seconds": 3600.0},
    )


@pytest.fixture(scope="session")
def shared_world(world_template: World) -> World:
    """The session's world itself: for tests that only read (never move aliases or delete)."""
    return dataclasses.replace(
        world_template, settings=_test_settings(world_template.settings.home_dir)
    )


@pytest.fixture(scope="module")
def shared_client(shared_world: World) -> Iterator[TestClient]:
    with TestClient(create_app(shared_world.settings)) as test_client:
        yield test_client


@pytest.fixture
def world(world_template: World, tmp_path: Path) -> World:
    """A private copy of the world: the test may change anything in it."""
    home = tmp_path / "home"
    # Not what a shared app may have left: its prediction log and its cached baseline.
    leftovers = shutil.ignore_patterns("predictions", "serving")
    shutil.copytree(world_template.settings.home_dir, home, ignore=leftovers)
    return dataclasses.replace(world_template, settings=_test_settings(home))


def with_settings(world: World, **changes: Any) -> World:
    return dataclasses.replace(world, settings=world.settings.replace(**changes))


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.settings)) as test_client:
        yield test_client


def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class LiveServer:
    """The app under a real uvicorn on 127.0.0.1 (a free port), stopped gracefully."""

    def __init__(self, settings: Settings) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(settings), log_level="warning", access_log=False, lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]})

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        """Graceful stop: uvicorn finishes requests, then the lifespan's shutdown runs."""
        self.server.should_exit = True
        self.thread.join(timeout=60)
        self.socket.close()


@pytest.fixture
def live(world: World) -> Iterator[LiveServer]:
    server = LiveServer(world.settings).start()
    yield server
    server.stop()
