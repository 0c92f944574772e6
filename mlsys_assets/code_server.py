"""``mlsys code-server [dagster api grpc options]``: Dagster's code server, whose run workers
fork from a process that has already loaded mlsys instead of each starting a new interpreter.

Dagster's code server starts every run in a new process with multiprocessing's "spawn" (fixed
in ``DagsterApiServer.__init__``, no setting): a fresh interpreter that imports Dagster, pandas,
pyarrow and the code location before its first step, 2-3 s of CPU per run on two cores and more
under load. Every hop of the retraining loop is a run (a day landed -> its pipeline; features
-> monitoring; labels -> retrain; shadow pairs -> canary), so every hop waited for it.

Here the server's context is "forkserver" with the code location preloaded: multiprocessing
starts one fresh, single-threaded interpreter beside the server (at once, so it is ready by the
first run), which imports ``PRELOAD`` once and forks each run worker from there. Not plain
"fork": the code server runs gRPC threads, and a fork of it would copy their locks mid-use.
A worker is still a process of its own: its pid is what the run health check pins
(``run_health.py``), killing it ends only its run, and it gets a fresh ``random`` seed at fork.
The fork server lives as long as the code server (it exits when the server's end of its pipe
closes); a restarted code server starts a new one, so a code change is picked up as before.

``mlsys ui`` and ``mlsys demo`` start this command in place of ``dagster code-server start``;
a workspace that names the module (``dagster dev``) keeps Dagster's own code servers.
"""

from __future__ import annotations

import functools
import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver
from typing import Any

import click

# What the fork server imports once: the code location (and through it Dagster, pandas and
# pyarrow), so that a run worker's reconstruction of its job finds it all loaded.
PRELOAD = ["mlsys_assets.definitions"]


def fork_run_workers_from_a_preloaded_server(server_class: type) -> None:
    """Make ``server_class`` (Dagster's ``DagsterApiServer``) start its runs with "forkserver"
    and ``PRELOAD`` preloaded, and start the fork server as soon as a server exists."""
    original = server_class.__init__
    if getattr(original, "forks_run_workers", False):
        return

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if not isinstance(getattr(self, "_mp_ctx", None), multiprocessing.context.BaseContext):
            raise RuntimeError(
                "this Dagster's code server has no multiprocessing context `_mp_ctx`: check "
                "how the installed version starts run workers before upgrading"
            )
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        self._mp_ctx = context
        multiprocessing.forkserver.ensure_running()  # its imports overlap the server's start

    __init__.forks_run_workers = True  # type: ignore[attr-defined]
    server_class.__init__ = __init__


@click.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,  # `mlsys code-server --help` is dagster api grpc's help
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def code_server(args: tuple[str, ...]) -> None:
    """Run ``dagster api grpc ARGS`` with run workers forked from a preloaded server."""
    from dagster._cli.api import grpc_command
    from dagster._grpc.server import DagsterApiServer

    fork_run_workers_from_a_preloaded_server(DagsterApiServer)
    grpc_command(list(args), prog_name="dagster api grpc")
