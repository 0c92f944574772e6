"""Start and stop the long-running processes (Dagster webserver and daemon, MLflow UI, the API).

Every process mlsys starts is tracked here and stopped together (SIGTERM, then SIGKILL), so a
demo or ``mlsys ui`` never leaves servers behind; their output goes to ``MLSYS_HOME/logs``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
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
        )
        proc = ManagedProcess(name=name, popen=popen, url=url)
        self.processes.append(proc)
        return proc

    def stop(self, timeout: float = 15.0) -> None:
        """Stop every process: a graceful SIGTERM first (the API flushes its log), then SIGKILL."""
        for proc in self.processes:
            if proc.popen.poll() is None:
                os.killpg(proc.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.processes:
            remaining = max(0.1, deadline - time.monotonic())
            try:
                proc.popen.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                os.killpg(proc.popen.pid, signal.SIGKILL)
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


def raise_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt so ``finally: group.stop()`` runs on ``kill`` too."""

    def _handler(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, _handler)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (the OS's pick), for a server about to start."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


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
