"""``kill -9`` of ``mlsys serve`` under load loses at most the sync window of answered
predictions and feedback, and the next start replays the rest into the logs, none doubled."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import duckdb
import httpx

from tests.serving.serve_process import ServeProcess
from tests.serving.world import World, next_day_requests

SYNC_SECONDS = 1.0  # the default MLSYS_SERVING__LOG_SYNC_SECONDS
WRITE_SLACK = 0.5  # one conversion + fsync on a busy two-core machine


class Traffic:
    """Threads sending /predict (and /feedback for every 10th answer) until the server dies,
    noting when each answer arrived."""

    def __init__(self, url: str, flights: list[dict[str, object]], threads: int = 4) -> None:
        self.url = url
        self.flights = flights
        self.predicted: dict[str, float] = {}  # request id -> answered at (monotonic)
        self.fed_back: dict[str, float] = {}
        self.unexpected: list[int] = []
        self.threads = [threading.Thread(target=self._run, args=(t,)) for t in range(threads)]

    def _run(self, seed: int) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            for i in range(seed, 10**9, len(self.threads)):
                rid = f"r{i}"
                try:
                    answer = client.post(
                        "/predict", json=self.flights[i % 200] | {"request_id": rid}
                    )
                    if answer.status_code != 200:
                        self.unexpected.append(answer.status_code)
                        continue
                    self.predicted[rid] = time.monotonic()
                    if i % 10 == 0:
                        body = {"request_id": rid, "arr_delay": float(i % 60)}
                        if client.post("/feedback", json=body).status_code == 200:
                            self.fed_back[rid] = time.monotonic()
                except httpx.HTTPError:  # killed
                    return

    def start(self) -> Traffic:
        for thread in self.threads:
            thread.start()
        return self

    def join(self) -> None:
        for thread in self.threads:
            thread.join(timeout=30)


def _logged(folder: Path) -> list[str]:
    files = [str(p) for p in folder.rglob("*.parquet")]
    if not files:
        return []
    conn = duckdb.connect()
    frame = conn.execute("SELECT * FROM read_parquet(?, union_by_name = true)", [files]).df()
    if "variant" in frame:  # the prediction log (feedback has no variant)
        # answers only: a shadow score (variant "shadow") shares its answer's request id
        frame = frame[frame["variant"] != "shadow"]
    return frame["request_id"].tolist()


def _lost(answered: dict[str, float], logged: list[str], killed_at: float) -> list[float]:
    """How long before the kill each answered-but-unlogged record was answered."""
    present = set(logged)
    return sorted(killed_at - t for rid, t in answered.items() if rid not in present)


def test_kill_9_loses_at_most_the_sync_window_and_doubles_nothing(
    world: World, tmp_path: Path
) -> None:
    # A flush every 2 s: some answers reach Parquet before the kill, the rest only the WAL.
    server = ServeProcess(world, tmp_path, serving__log_flush_seconds="2").wait_ready()
    traffic = Traffic(server.url, next_day_requests(world, 200)).start()
    log_dir = world.settings.predictions_dir / "log"
    deadline = time.monotonic() + 60
    try:
        # Kill once a flush reached Parquet and more answers came after it (a fast server
        # answers 2,000 before its first flush).
        while len(traffic.predicted) < 2_000 or not any(log_dir.rglob("*.parquet")):
            assert all(t.is_alive() for t in traffic.threads), traffic.unexpected
            assert time.monotonic() < deadline, "no flush to Parquet within a minute of load"
            time.sleep(0.05)
        time.sleep(0.3)  # answers after the flush: only in the WAL
    finally:
        killed_at = time.monotonic()
        server.kill()
        traffic.join()
    assert traffic.unexpected == []

    predictions_dir = world.settings.predictions_dir
    before = _logged(predictions_dir / "log")
    assert 0 < len(before) < len(traffic.predicted)  # flushed some, the rest is in the WAL

    restarted = ServeProcess(world, tmp_path).wait_ready()  # replays the dead WAL on start
    restarted.stop()

    predictions = _logged(predictions_dir / "log")
    feedback = _logged(predictions_dir / "feedback")
    assert len(predictions) == len(set(predictions)), "a prediction was logged twice"
    assert len(feedback) == len(set(feedback)), "a feedback record was logged twice"
    lost = _lost(traffic.predicted, predictions, killed_at)
    lost_feedback = _lost(traffic.fed_back, feedback, killed_at)
    window = SYNC_SECONDS + WRITE_SLACK
    summary = (
        f"answered {len(traffic.predicted)} predictions, lost {len(lost)} "
        f"(oldest {max(lost, default=0.0):.3f} s before the kill); "
        f"feedback {len(traffic.fed_back)}, lost {len(lost_feedback)} "
        f"(oldest {max(lost_feedback, default=0.0):.3f} s)"
    )
    assert max(lost, default=0.0) <= window, summary
    assert max(lost_feedback, default=0.0) <= window, summary
    assert not (set(predictions) - set(traffic.predicted))  # nothing unanswered appears
    assert not list((predictions_dir / "wal").rglob("*.arrows"))
