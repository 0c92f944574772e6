"""The chaos world: mlsys's long-running processes, real and supervised by the test.

One ``MLSYS_HOME`` per module with the Dagster code server and daemon (whose sensors launch
the ``daily_pipeline`` runs), ``mlsys serve`` and ``mlsys stream``, started as ``mlsys ui``
starts them. The test plays the supervisor a production host has (systemd, Kubernetes): it
kills a process with SIGKILL at a moment drawn from a seeded random generator, restarts the
servers, and checks that nothing was lost once the system recovered.

``MLSYS_CHAOS_SEED`` picks the moments (default 14); ``MLSYS_CHAOS_KILLS`` the number of extra
random kills of ``test_random_kills`` (default 0: the suite stays under 3 minutes).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import httpx
import pandas as pd
import pytest

from mlsys_assets.clock import day_end_utc
from mlsys_assets.demo.live import stream_caught_up
from mlsys_assets.demo.summary import check_outcomes
from mlsys_assets.instance import get_instance
from mlsys_assets.loop.signals import ACTIVE
from mlsys_assets.processes import ManagedProcess, ProcessGroup, executable, free_port
from mlsys_assets.processes import wait_for_port as _wait_for_port
from mlsys_assets.replay.publish import Replayer
from mlsys_assets.resources.backends import build_event_stream
from mlsys_assets.resources.online_store import SQLiteOnlineStore
from mlsys_assets.resources.warehouse import Warehouse
from mlsys_assets.run_health import worker_pid
from mlsys_assets.settings import Settings, get_settings
from mlsys_assets.stream.processor import StreamProcessor
from mlsys_assets.ui import CODE_SERVER_HOST, create_tracking_store, start_code_server

FIRST_DAY = dt.date(2013, 1, 1)
POOL = "warehouse"
HOST = "127.0.0.1"
SEED = int(os.environ.get("MLSYS_CHAOS_SEED", "14"))
FLIGHT = {
    "carrier": "UA",
    "flight": 1545,
    "tailnum": "N14228",
    "origin": "EWR",
    "dest": "IAH",
    "scheduled_departure": "2013-01-01T05:15:00-05:00",
    "distance": 1400,
    "request_id": "chaos",
}


def parent_command(pid: int) -> str:
    """The command line of the parent of process ``pid``."""
    parent = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
    return Path(f"/proc/{parent}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def wait_until(what: str, probe: Callable[[], object], timeout: float, every: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"chaos: no recovery after {timeout:.0f} s: {what}")


@dataclass
class Chaos:
    """The running world, and the supervisor's hands on it."""

    settings: Settings
    group: ProcessGroup
    instance: dg.DagsterInstance
    replayer: Replayer
    rng: random.Random
    api_port: int
    code_port: int = 0
    workspace: list[str] = field(default_factory=list)
    day: dt.date = FIRST_DAY
    kills: list[str] = field(default_factory=list)
    # The command line of each killed run worker's parent.
    worker_parents: list[str] = field(default_factory=list)
    orphaned_groups: list[int] = field(default_factory=list)

    # --- processes -------------------------------------------------------------------------
    def process(self, name: str) -> ManagedProcess:
        return [p for p in self.group.processes if p.name == name][-1]

    def start(self, name: str) -> None:
        commands = {
            "stream": [executable("mlsys"), "stream"],
            "api": [
                executable("mlsys"),
                "serve",
                "--port",
                str(self.api_port),
                "--log-level",
                "warning",
            ],
            "dagster-daemon": [executable("mlsys"), "daemon", *self.workspace],
        }
        if name == "dagster-code-server":
            self.workspace = start_code_server(self.settings, self.group, self.code_port or None)
            self.code_port = int(_workspace_port(self.settings))
        else:
            self.group.start(name, commands[name])

    def kill(self, name: str) -> None:
        """SIGKILL the process ``name`` (no cleanup, as the OOM killer does) and reap it."""
        proc = self.process(name)
        os.kill(proc.popen.pid, signal.SIGKILL)
        proc.popen.wait(timeout=10)
        self.group.processes.remove(proc)  # the group's watch would call its death a failure
        self.orphaned_groups.append(proc.popen.pid)  # what it started may live on: stopped last
        self.kills.append(name)

    def restart(self, name: str) -> None:
        self.start(name)
        if name == "api":
            _wait_for_port(HOST, self.api_port, timeout=120, group=None)
        self.kills.append(f"{name} restarted")

    def pause(self, low: float, high: float) -> None:
        """Wait a random moment, drawn from the seeded generator."""
        time.sleep(self.rng.uniform(low, high))

    # --- the world moves on --------------------------------------------------------------
    def next_day(self) -> dt.date:
        """Publish the next day: its weather and schedule events, then its outcome file."""
        self.day += dt.timedelta(days=1)
        self.replayer.advance(day_end_utc(self.day))
        return self.day

    def kill_run_worker(self) -> str:
        """SIGKILL the worker of the run ingesting ``self.day``, at a random moment of it."""

        def started() -> tuple[str, int] | None:
            for run in self.instance.get_runs(
                dg.RunsFilter(job_name="daily_pipeline", statuses=[dg.DagsterRunStatus.STARTED])
            ):
                pid = worker_pid(self.instance, run.run_id)
                if pid is not None:
                    return run.run_id, pid
            return None

        run_id, pid = wait_until("a daily_pipeline run to start", started, 180)
        self.worker_parents.append(parent_command(pid))
        self.pause(0.0, 2.0)
        os.kill(pid, signal.SIGKILL)
        self.kills.append(f"run worker {pid} of {run_id[:8]}")
        return run_id

    # --- recovery and invariants ---------------------------------------------------------
    def recovered(self, timeout: float = 150) -> None:
        """Every day up to ``self.day`` ingested, no run in progress, the pool slot free,
        the stream processor caught up, the API answering."""
        caught_up = stream_caught_up(build_event_stream(self.settings))
        wait_until(f"raw_flights of {self.day}", self._ingested, timeout)
        wait_until(
            "runs to end",
            lambda: not self.instance.get_runs(dg.RunsFilter(statuses=ACTIVE), limit=1),
            timeout,
        )
        wait_until("the warehouse pool slot to be freed", lambda: not self.holders(), 60)
        wait_until("the stream processor to catch up", caught_up, 60, every=0.1)
        wait_until("the API to answer", self._api_answers, 60)

    def stream_behind(self) -> bool:
        """Whether the processor's consumer group has events it did not acknowledge."""
        return not stream_caught_up(build_event_stream(self.settings))()

    def _ingested(self) -> bool:
        done = self.instance.get_materialized_partitions(dg.AssetKey("raw_flights"))
        return self.day.isoformat() in done

    def _api_answers(self) -> bool:
        try:
            answer = httpx.post(f"http://{HOST}:{self.api_port}/predict", json=FLIGHT, timeout=5)
        except httpx.HTTPError:
            return False
        return answer.status_code == 200

    def holders(self) -> list[str]:
        info = self.instance.event_log_storage.get_concurrency_info(POOL)
        return [slot.run_id for slot in info.claimed_slots]

    def assert_invariants(self) -> None:
        """What must hold after any crash, once the system recovered."""
        landed = landing_keys(self.settings, self.day)
        warehouse = Warehouse(path=str(self.settings.warehouse_path))
        raw = warehouse.read_df(
            "SELECT flight_date, carrier, flight, origin, count(*) AS n FROM raw.flights "
            "GROUP BY ALL"
        )
        assert int(raw["n"].max()) == 1, f"doubled rows after {self.kills}"
        assert len(raw) == len(landed), f"{len(landed) - len(raw)} rows lost after {self.kills}"
        checks = check_outcomes(self.instance)
        assert checks["raw_flights:reconciliation"] is True, self.kills
        assert checks["raw_weather:reconciliation"] is True, self.kills
        assert self.holders() == [], f"pool slots still held after {self.kills}"
        assert self._api_answers(), self.kills
        assert online_matches_the_stream(self.settings), f"online store behind after {self.kills}"


def _workspace_port(settings: Settings) -> str:
    text = (settings.dagster_home / "workspace.yaml").read_text()
    return text.split("port:")[1].split()[0]


def landing_keys(settings: Settings, last_day: dt.date) -> pd.DataFrame:
    """Distinct flight keys of every outcome file landed up to ``last_day``."""
    frames = []
    for path in sorted((settings.landing_dir / "flights").glob("date=*/flights.csv")):
        if dt.date.fromisoformat(path.parent.name.removeprefix("date=")) <= last_day:
            frames.append(
                pd.read_csv(path, usecols=["year", "month", "day", "carrier", "flight", "origin"])
            )
    return pd.concat(frames).drop_duplicates()


def online_matches_the_stream(settings: Settings) -> bool:
    """The online store holds what an uncrashed processor makes of the whole stream.

    A reference processor (its own consumer group, its own store) reads every event once; each
    of its keys must hold the same event time and values in the store the crashed one wrote.
    """
    reference_path = settings.home_dir / f"reference-{time.monotonic_ns()}.sqlite"
    reference = StreamProcessor(
        build_event_stream(settings),
        SQLiteOnlineStore(path=str(reference_path)),
        group=f"reference-{reference_path.stem}",
    )
    reference.drain()
    keys = _keys(reference_path)
    live = SQLiteOnlineStore(path=str(settings.online_store_path))
    return bool(keys) and reference.store.read(keys) == live.read(keys)


def _keys(path: Path) -> list[str]:
    import sqlite3

    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
            if "key" in columns:
                return [r[0] for r in conn.execute(f"SELECT key FROM {table}")]
    return []


@pytest.fixture(scope="module")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chaos]:
    home = tmp_path_factory.mktemp("chaos") / "mlsys"
    env = {
        "MLSYS_HOME": str(home),
        "MLSYS_FEATURES__STREAM_POLL_SECONDS": "0.02",
        "MLSYS_SERVING__POLL_SECONDS": "2",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        get_settings.cache_clear()
        settings = get_settings()
        instance = get_instance(settings)
        create_tracking_store(settings)
        group = ProcessGroup(log_dir=home / "logs")
        group.env |= env | {"DAGSTER_HOME": str(settings.dagster_home)}
        world = Chaos(
            settings=settings,
            group=group,
            instance=instance,
            replayer=Replayer(settings),
            rng=random.Random(SEED),
            api_port=free_port(),
        )
        try:
            world.replayer.advance(day_end_utc(FIRST_DAY))
            for name in ("stream", "api", "dagster-code-server", "dagster-daemon"):
                world.start(name)
            _wait_for_port(CODE_SERVER_HOST, world.code_port, timeout=180, group=group)
            world.recovered(timeout=240)
            yield world
        finally:
            group.stop(timeout=10)
            for pgid in world.orphaned_groups:
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            get_settings.cache_clear()
