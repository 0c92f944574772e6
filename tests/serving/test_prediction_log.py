"""The prediction log: every answer is a record, nothing is lost on a graceful stop."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import duckdb
import httpx

from tests.serving.conftest import LiveServer, with_settings
from tests.serving.world import World, next_day_requests


def test_graceful_stop_keeps_every_record(world: World) -> None:
    # Buffers big and slow enough that nothing is flushed before the stop.
    quiet = with_settings(world, serving={"log_flush_rows": 1_000_000, "log_flush_seconds": 3600.0})
    server = LiveServer(quiet.settings).start()
    flights = next_day_requests(world, 60)

    def send(i: int) -> list[str]:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            if i % 5 == 0:
                batch = [f | {"request_id": f"b{i}-{j}"} for j, f in enumerate(flights[:10])]
                response = client.post("/predict/batch", json={"flights": batch})
                assert response.status_code == 200
                return [p["request_id"] for p in response.json()["predictions"]]
            flight = flights[i % len(flights)] | {"request_id": f"s{i}"}
            response = client.post("/predict", json=flight)
            assert response.status_code == 200
            return [response.json()["request_id"]]

    try:
        with ThreadPoolExecutor(4) as pool:
            sent = [rid for ids in pool.map(send, range(60)) for rid in ids]
        with httpx.Client(base_url=server.url) as client:
            feedback = client.post("/feedback", json={"request_id": "s1", "arr_delay": 31.0})
            assert feedback.status_code == 200
        log_dir = quiet.settings.predictions_dir / "log"
        assert not list(log_dir.rglob("*.parquet"))  # still buffered in memory
    finally:
        server.stop()

    files = sorted(str(p) for p in log_dir.rglob("*.parquet"))
    assert files
    conn = duckdb.connect()
    log = conn.execute("SELECT * FROM read_parquet(?, hive_partitioning = true)", [files]).df()
    shadow = log[log["variant"] == "shadow"]  # the challenger's scores of the champion's answers
    log = log[log["variant"] != "shadow"]
    champion_ids = set(log.loc[log["variant"] == "champion", "request_id"])
    assert set(shadow["request_id"]) == champion_ids
    assert set(shadow["model_version"]) == {world.challenger}
    assert len(sent) == 12 * 10 + 48
    assert sorted(log["request_id"]) == sorted(sent)
    assert log["request_id"].is_unique
    row = log[log["request_id"] == "s1"].iloc[0]
    assert row["model_name"] == "flight_delay"
    assert row["variant"] in ("champion", "challenger")
    assert row["model_version"] in (world.champion, world.challenger)
    assert row["rule"] == "threshold"
    assert row["latency_ms"] > 0
    assert row["feature_values"]["carrier"] == flights[1]["carrier"]
    assert set(log["endpoint"]) == {"predict", "batch"}
    feedback_files = [
        str(p) for p in (quiet.settings.predictions_dir / "feedback").rglob("*.parquet")
    ]
    outcomes = conn.execute("SELECT request_id, arr_delay FROM read_parquet(?)", [feedback_files])
    assert outcomes.fetchall() == [("s1", 31.0)]


def test_log_flushes_by_size_while_serving(world: World) -> None:
    small = with_settings(world, serving={"log_flush_rows": 5, "log_flush_seconds": 3600.0})
    server = LiveServer(small.settings).start()
    try:
        with httpx.Client(base_url=server.url) as client:
            for flight in next_day_requests(world, 12):
                assert client.post("/predict", json=flight).status_code == 200
        log_dir = small.settings.predictions_dir / "log"
        deadline_files = []
        for _ in range(100):
            deadline_files = list(log_dir.rglob("*.parquet"))
            if len(deadline_files) >= 2:
                break
            import time

            time.sleep(0.05)
        assert len(deadline_files) >= 2  # rotated: one file per flush
        assert not list(log_dir.rglob("*.tmp"))
    finally:
        server.stop()
