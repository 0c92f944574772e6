"""`make test` hands whole groups to its two workers, and every live system to one of them:
the demo's worker runs chaos and the demo stops right after the demo, while the other worker
goes on with the rest and never starts a live system beside it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from tests.conftest import _LIVE, _group
from tests.scheduling import group_scheduling

TESTS = [  # in the order tests/conftest.py sorts them on a worker
    "tests/e2e/test_demo.py::test_a",
    "tests/e2e/test_demo.py::test_b",
    "tests/e2e/test_demo.py::test_c",
    "tests/chaos/test_chaos.py::test_kill",
    "tests/e2e/test_demo_stops.py::test_stop",
    "tests/integration/test_redis.py::test_r",
    "tests/serving/test_app.py::test_s",
    "tests/loop/test_sensors.py::test_t",
    "tests/ingestion/test_replay.py::test_i",
]


class Worker:
    """What the scheduler sees of a pytest-xdist worker: the tests sent to it, in order."""

    def __init__(self, name: str) -> None:
        self.gateway = SimpleNamespace(id=name)
        self.shutting_down = False
        self.queue: list[int] = []
        self.ran: list[str] = []

    def send_runtest_some(self, indices: list[int]) -> None:
        self.queue += indices

    def shutdown(self) -> None:
        self.shutting_down = True


def _scheduler(tests: list[str], workers: list[Worker]) -> Any:
    config = SimpleNamespace(
        getvalue=lambda name: ["2*popen"] if name == "tx" else None,
        option=SimpleNamespace(loadscopereorder=False),
    )
    scheduler = group_scheduling(config, None, group=_group, live=_LIVE)
    for worker in workers:
        scheduler.add_node(worker)
        scheduler.add_node_collection(worker, tests)
    scheduler.schedule()
    return scheduler


def _run_one(scheduler: Any, worker: Worker, tests: list[str]) -> None:
    index = worker.queue.pop(0)
    worker.ran.append(tests[index])
    scheduler.mark_test_complete(worker, index)


def _groups(worker: Worker) -> list[str]:
    return list(dict.fromkeys(_group(test) for test in worker.ran))


def test_the_demos_worker_runs_every_live_system_and_the_other_never_does() -> None:
    demo, other = Worker("gw0"), Worker("gw1")
    scheduler = _scheduler(TESTS, [demo, other])
    # the other worker is quick: it asks for more long before the demo is over
    while other.queue:
        _run_one(scheduler, other, TESTS)
    while demo.queue or other.queue:
        for worker in (demo, other):
            if worker.queue:
                _run_one(scheduler, worker, TESTS)
    assert scheduler.tests_finished
    assert _groups(demo)[:2] == ["demo", "live-system"]
    assert not set(_groups(other)) & set(_LIVE)
    assert sorted(demo.ran + other.ran) == sorted(TESTS)


def test_without_the_demo_one_worker_takes_the_live_systems() -> None:
    tests = [t for t in TESTS if _group(t) != "demo"]
    first, second = Worker("gw0"), Worker("gw1")
    scheduler = _scheduler(tests, [first, second])
    while first.queue or second.queue:
        for worker in (first, second):
            if worker.queue:
                _run_one(scheduler, worker, tests)
    assert scheduler.tests_finished
    assert _groups(first)[0] == "live-system" and "live-system" not in _groups(second)
