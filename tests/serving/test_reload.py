"""Model swaps under load: a reload (admin or poll) changes versions with zero failed requests."""

from __future__ import annotations

import threading
import time

import httpx

from tests.serving.conftest import LiveServer, admin_headers, with_settings
from tests.serving.world import World, next_day_requests, set_alias


class Load:
    """Threads sending /predict in a loop, recording every status and champion version seen."""

    def __init__(self, url: str, flights: list[dict[str, object]], threads: int = 4) -> None:
        self.url = url
        self.flights = flights
        self.stop = threading.Event()
        self.statuses: list[int] = []
        self.champion_versions: list[str] = []
        self.errors: list[str] = []
        self.threads = [threading.Thread(target=self._run, args=(t,)) for t in range(threads)]

    def _run(self, seed: int) -> None:
        i = seed
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.stop.is_set():
                flight = self.flights[i % len(self.flights)] | {"request_id": f"t{seed}-{i}"}
                try:
                    response = client.post("/predict", json=flight)
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc))
                    continue
                self.statuses.append(response.status_code)
                answer = response.json()
                if response.status_code == 200 and answer["variant"] == "champion":
                    self.champion_versions.append(answer["model_version"])
                i += 4

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def _wait_for(condition, timeout: float = 30.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_admin_reload_swaps_under_load_without_failures(world: World) -> None:
    server = LiveServer(world.settings).start()
    flights = next_day_requests(world, 50)
    try:
        with Load(server.url, flights) as load:
            _wait_for(lambda: len(load.statuses) > 100)
            set_alias(world.settings, "champion", world.challenger)  # promote
            set_alias(world.settings, "challenger", world.champion)
            with httpx.Client(base_url=server.url, timeout=60) as client:
                reload = client.post("/admin/reload", headers=admin_headers()).json()
                assert reload == {
                    "ok": True,
                    "changed": True,
                    "champion": world.challenger,
                    "challenger": world.champion,
                    "errors": [],
                }
                swapped_at = len(load.champion_versions)
                _wait_for(lambda: len(load.champion_versions) > swapped_at + 100)
                model = client.get("/model").json()
        assert load.errors == []
        assert set(load.statuses) == {200}
        assert {world.champion, world.challenger} <= set(load.champion_versions)
        assert set(load.champion_versions[swapped_at + 8 :]) == {world.challenger}
        assert model["previous_champion"] == world.champion
    finally:
        server.stop()


def test_poll_picks_up_a_new_champion(world: World) -> None:
    fast = with_settings(world, serving={"poll_seconds": 0.2})
    server = LiveServer(fast.settings).start()
    try:
        with httpx.Client(base_url=server.url) as client:
            assert client.get("/health").json()["model_version"] == world.champion
            set_alias(world.settings, "champion", world.challenger)
            _wait_for(lambda: client.get("/health").json()["model_version"] == world.challenger)
    finally:
        server.stop()
