"""Ctrl-C or SIGTERM to `mlsys demo` or `make demo` leaves nothing behind: no process it
started, no port taken. Killed with SIGKILL, it cannot clean up: its servers then stop on
their own (the kernel's parent-death signal), so even then nothing is left.

Every process the demo starts (servers, their workers, Dagster run workers) inherits its
``MLSYS_HOME``, so the test finds them all by their environment, wherever they put themselves
(each server leads its own session). The demo is stopped early in its bootstrap, once the
servers are up: the moment with the most processes and the least work lost.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlsys_assets.processes import child_environment, free_ports

pytestmark = pytest.mark.slow
HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parents[2]


def processes_of_home(home: Path) -> dict[int, str]:
    """pid -> command line of every live process whose environment has MLSYS_HOME=home."""
    marker = f"MLSYS_HOME={home}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
            found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
    return found


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def _demo_command(launcher: str, tmp_path: Path, ports: list[int]) -> list[str]:
    args = ["--quick", "--api-port", str(ports[0]), "--dagster-port", str(ports[1])]
    args += ["--mlflow-port", str(ports[2]), "--reports-port", str(ports[3])]
    if launcher == "mlsys demo":
        return [sys.executable, "-m", "mlsys_assets.cli", "demo", *args]
    stamp = tmp_path / "installed"  # newer than pyproject.toml: `make install` has nothing to do
    stamp.touch()
    bin_dir = Path(sys.executable).parent
    return [
        "make",
        "-s",
        "-C",
        str(REPO),
        "demo",
        f"BIN={bin_dir}",
        f"STAMP={stamp}",
        f"DEMO_ARGS={' '.join(args)}",
    ]


@pytest.mark.parametrize(
    ("launcher", "stop"),
    [
        ("mlsys demo", "SIGTERM"),
        ("make demo", "SIGTERM"),
        ("make demo", "Ctrl-C"),
        ("mlsys demo", "SIGKILL"),  # no chance to clean up: the kernel tells its servers
    ],
)
def test_stopping_the_demo_stops_every_process_and_frees_the_ports(
    tmp_path, launcher, stop
) -> None:
    home = tmp_path / "mlsys"
    ports = free_ports(4)
    command = _demo_command(launcher, tmp_path, ports)
    output = tmp_path / "demo.out"
    with output.open("wb") as out:
        demo = subprocess.Popen(
            command,
            env=child_environment() | {"MLSYS_HOME": str(home)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 300
        while not all(listening(p) for p in ports):
            assert demo.poll() is None, output.read_text()[-3000:]
            assert time.monotonic() < deadline, "the servers did not come up"
            time.sleep(0.5)
        started = processes_of_home(home)
        names = " ".join(started.values())
        for server in ("mlsys daemon", "dagster-webserver", "code-server", "mlflow", "serve"):
            assert server in names, server
        assert "stream" in names

        if stop == "Ctrl-C":  # the terminal sends SIGINT to the foreground process group
            os.killpg(demo.pid, signal.SIGINT)
        elif stop == "SIGKILL":  # a CI timeout, the OOM killer: the servers stop on their own
            demo.kill()
        else:  # make dies at once without passing it on; the demo notices, then stops
            demo.send_signal(signal.SIGTERM)
        demo.wait(timeout=60)
        deadline = time.monotonic() + 60
        while processes_of_home(home) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert processes_of_home(home) == {}
        assert not [p for p in ports if listening(p)]
        console = output.read_text()
        if stop == "SIGKILL":
            return  # killed mid-sentence: its console is not the orderly stop's
        for noise in ("Warning", "Downloading artifacts", "Traceback", " INFO "):
            assert noise not in console, console[-3000:]
    finally:
        # Whatever the outcome, leave nothing running on this shared machine.
        for pid in processes_of_home(home):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
