"""Start and stop the long-running processes (Dagster webserver and daemon, MLflow UI, the API).

Every process mlsys starts is tracked here and stopped together (SIGTERM, then SIGKILL), so a
demo or ``mlsys ui`` never leaves servers behind; their output goes to ``MLSYS_HOME/logs``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


def child_environment() -> dict[str, str]:
    """This process's environment, minus what slows every Python child down.

    With PYTHONDONTWRITEBYTECODE set, each child (a server, every Dagster run worker)
    recompiles its imports from source on start: ~20 s apiece on two cores.
    """
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


@dataclass
class ManagedProcess:
    name: str
    popen: subprocess.Popen[bytes]
    url: str | None = None


@dataclass
class ProcessGroup:
    """A set of child processes that live and die together."""

    log_dir: Path
    env: dict[str, str] = field(default_factory=lambda: child_environment())
    processes: list[ManagedProcess] = field(default_factory=list)

    def start(
        self,
        name: str,
        args: list[str],
        url: str | None = None,
        env: dict[str, str] | None = None,
    ) -> ManagedProcess:
        """Start ``args`` with the group's environment plus ``env`` (for this process only)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{name}.log").open("ab")
        popen = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**self.env, **(env or {})},
            start_new_session=True,
            preexec_fn=_terminated_with_parent(os.getpid()),
        )
        proc = ManagedProcess(name=name, popen=popen, url=url)
        self.processes.append(proc)
        return proc

    def stop(self, timeout: float = 15.0) -> None:
        """Stop every process and everything it started: SIGTERM to each process group first
        (the API flushes its log), then SIGKILL to any group with a member left.

        Each child leads its own process group (``start_new_session``), which its children
        (run workers, uvicorn workers, ``tail`` of compute logs) join: signalling the group
        reaches them even when the leader has already exited. Ctrl-C or SIGTERM during the stop
        is ignored, so a second Ctrl-C cannot leave half the servers running.
        """
        with _signals_ignored():
            groups = [proc.popen.pid for proc in self.processes]
            for pgid in groups:
                _signal_group(pgid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            for proc in self.processes:
                try:
                    proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
            while any(_group_alive(g) for g in groups) and time.monotonic() < deadline:
                time.sleep(0.1)
            for pgid in groups:
                _signal_group(pgid, signal.SIGKILL)
            for proc in self.processes:
                proc.popen.wait()
            self.processes.clear()

    def check_alive(self) -> None:
        for proc in self.processes:
            code = proc.popen.poll()
            if code is not None:
                raise RuntimeError(
                    f"{proc.name} exited with code {code}; see {self.log_dir / proc.name}.log"
                )

    def watch(self, interval: float = 2.0) -> None:
        """Keep the processes up for a person to use until interrupted; one dying raises."""
        while True:
            self.check_alive()
            time.sleep(interval)


def _terminated_with_parent(parent: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the kernel SIGTERM the child when ``parent`` dies (Linux).

    ``stop()`` needs a living parent: a supervisor killed with SIGKILL (a CI timeout, the OOM
    killer) would otherwise leave its servers running, holding their ports, the warehouse and
    the run queue, with nobody to stop them. ``PR_SET_PDEATHSIG`` fires when the thread that
    started the child ends, so children are started from the main thread only. The child then
    stops as it would on ``stop()``'s SIGTERM. Elsewhere than Linux: None (no such guard).
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork, not in it
    pr_set_pdeathsig = 1

    def _in_child() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the guard was set
            os.kill(os.getpid(), signal.SIGTERM)

    return _in_child


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # the whole group is gone


def _group_alive(pgid: int) -> bool:
    """Whether any process (zombies aside) is left in process group ``pgid``."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":  # fields: state, ppid, pgrp, ...
            return True
    return False


@contextmanager
def _signals_ignored() -> Iterator[None]:
    """SIGINT and SIGTERM ignored in the block (only the main thread may change handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


_stop_signals: list[int] = []  # the stopping signals this process received


def raise_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt so ``finally: group.stop()`` runs on ``kill`` too,
    and remember every stop (Ctrl-C included) for ``is_a_stop``."""

    def _handler(signum: int, _frame: object) -> None:
        _stop_signals.append(signum)
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGHUP, _handler)  # the terminal closed: stop as on Ctrl-C
    signal.signal(signal.SIGINT, _handler)  # Ctrl-C, as Python's own handler, but remembered


def is_a_stop(error: BaseException) -> bool:
    """Whether ``error`` ended a command that ``raise_on_sigterm`` set up because it was asked
    to stop: a ``KeyboardInterrupt``, or any error once a stop signal arrived.

    A library may catch the ``KeyboardInterrupt`` raised inside its own callback and raise an
    error of its own instead (pandas' CSV reader, interrupted in the middle of a read, raises
    ``ParserError: Calling read(nbytes) on source failed``); the stop was still asked for, and
    the command ends as quietly as on any Ctrl-C.
    """
    if isinstance(error, KeyboardInterrupt):
        return True
    return isinstance(error, Exception) and bool(_stop_signals)


def stop_with_parent(interval: float = 0.5) -> None:
    """Deliver SIGTERM to this process when the one that started it dies.

    ``make demo`` killed with SIGTERM dies without passing the signal on, leaving the demo (and
    every server it started) orphaned with nobody to press Ctrl-C. A daemon thread watches for
    the re-parenting and sends this process the SIGTERM that ``raise_on_sigterm`` turns into
    an orderly stop.
    """
    parent = os.getppid()

    def _watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=_watch, name="stop-with-parent", daemon=True).start()


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (the OS's pick), for a server about to start."""
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` different free ports. Picked while all are held: two ``free_port()`` calls
    in a row may get the same port back (it is free again once the first socket closes), and
    a server told to bind HTTP and gRPC to one port then answers one protocol with the other."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def wait_for_port(
    host: str, port: int, timeout: float = 60.0, group: ProcessGroup | None = None
) -> None:
    """Block until something listens on host:port, failing early if a child died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if group is not None:
            group.check_alive()
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.25)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f} s")


def executable(name: str) -> str:
    """A console script installed beside this interpreter (dagster-webserver, mlflow, ...)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name
