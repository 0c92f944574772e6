"""``mlsys serve --workers 2`` answers as one server: /metrics sums both workers' counts, and
an admin reload that reaches one worker is served by both within a second."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from prometheus_client.multiprocess import MultiProcessCollector

from tests.serving.conftest import admin_headers
from tests.serving.serve_process import ServeProcess
from tests.serving.world import World, next_day_requests, set_alias

PREDICTIONS = 300


def _scrape(url: str) -> str:
    """/metrics on a new connection (any worker may take it)."""
    response = httpx.get(f"{url}/metrics", timeout=10, headers={"Connection": "close"})
    assert response.status_code == 200
    return response.text


def _sum(text: str, metric: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(metric + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _champion_by_worker(text: str) -> dict[str, str]:
    pattern = re.compile(r'^mlsys_model_version\{alias="champion",pid="(\d+)"\} (\S+)$', re.M)
    return {pid: str(int(float(value))) for pid, value in pattern.findall(text)}


def _predictions_by_worker(directory: Path) -> list[float]:
    """Each worker's own count of scored flights, from its metrics file."""
    counts = []
    for path in sorted(directory.glob("counter_*.db")):
        for metric in MultiProcessCollector.merge([str(path)]):
            if metric.name == "mlsys_predictions":
                counts.append(sum(s.value for s in metric.samples if s.name.endswith("_total")))
    return counts


def _wait_for(condition, timeout: float) -> float:  # noqa: ANN001
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, "timed out"
        time.sleep(0.02)
    return time.monotonic() - started


def test_two_workers_share_metrics_and_reloads(world: World, tmp_path: Path) -> None:
    server = ServeProcess(world, tmp_path, workers=2).wait_ready()
    try:
        # Both workers up: each has published the champion it serves.
        _wait_for(lambda: len(_champion_by_worker(_scrape(server.url))) == 2, timeout=120)

        flights = next_day_requests(world, PREDICTIONS)

        def predict(flight: dict[str, object]) -> int:
            headers = {"Connection": "close"}  # a new connection each: both workers get some
            return httpx.post(f"{server.url}/predict", json=flight, headers=headers).status_code

        with ThreadPoolExecutor(4) as pool:
            assert set(pool.map(predict, flights)) == {200}

        (metrics_dir,) = (world.settings.home_dir / "serving" / "prometheus").iterdir()
        per_worker = _predictions_by_worker(metrics_dir)
        assert len(per_worker) == 2 and min(per_worker) > 0, per_worker
        assert sum(per_worker) == PREDICTIONS
        for _ in range(6):  # whichever worker answers the scrape: the sum of both
            text = _scrape(server.url)
            assert _sum(text, "mlsys_predictions_total") == PREDICTIONS
            assert _sum(text, "mlsys_requests_total", endpoint="/predict") == PREDICTIONS

        set_alias(world.settings, "champion", world.challenger)  # promote the challenger
        set_alias(world.settings, "challenger", world.champion)
        reload = httpx.post(f"{server.url}/admin/reload", headers=admin_headers(), timeout=60)
        assert reload.json()["champion"] == world.challenger
        both = {world.challenger}
        took = _wait_for(
            lambda: set(_champion_by_worker(_scrape(server.url)).values()) == both, timeout=5
        )
        assert took < 1.0, f"the second worker reloaded after {took:.2f} s"
        for _ in range(10):  # and every worker answers with it
            model = httpx.get(f"{server.url}/model", headers={"Connection": "close"}).json()
            assert model["versions"][0]["version"] == world.challenger
    finally:
        server.stop()
