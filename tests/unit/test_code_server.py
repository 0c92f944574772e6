"""``mlsys code-server``: the code server's runs start from a preloaded fork server."""

from __future__ import annotations

import multiprocessing

import pytest

from mlsys_assets import code_server


class _Server:
    """Dagster's code server as far as run workers go: a context chosen in ``__init__``."""

    def __init__(self) -> None:
        self._mp_ctx = multiprocessing.get_context("spawn")


class _ServerWithoutContext:
    def __init__(self) -> None:
        self.workers = []


@pytest.fixture
def started(monkeypatch) -> list[bool]:
    """Records a start of the fork server instead of starting one."""
    calls: list[bool] = []
    monkeypatch.setattr(
        code_server.multiprocessing.forkserver, "ensure_running", lambda: calls.append(True)
    )
    return calls


def test_run_workers_fork_from_a_server_that_preloaded_mlsys(started) -> None:
    server_class = type("Server", (_Server,), {})
    code_server.fork_run_workers_from_a_preloaded_server(server_class)
    code_server.fork_run_workers_from_a_preloaded_server(server_class)  # twice: wrapped once

    server = server_class()

    assert server._mp_ctx.get_start_method() == "forkserver"
    assert code_server.PRELOAD == ["mlsys_assets.definitions"]
    assert started == [True], "the fork server starts with the code server, not at the first run"


def test_a_dagster_whose_server_has_no_context_is_refused(started) -> None:
    server_class = type("Server", (_ServerWithoutContext,), {})
    code_server.fork_run_workers_from_a_preloaded_server(server_class)

    with pytest.raises(RuntimeError, match="_mp_ctx"):
        server_class()
