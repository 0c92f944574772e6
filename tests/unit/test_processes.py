"""Processes that mlsys starts are stopped together, grandchildren included."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from mlsys_assets.processes import ProcessGroup, free_ports


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it has stopped running all the same.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"


def test_stop_ends_every_process_and_its_children(tmp_path) -> None:
    pid_file = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time, pathlib;"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
        f"pathlib.Path({str(pid_file)!r}).write_text(str(p.pid)); time.sleep(60)"
    )
    group = ProcessGroup(log_dir=tmp_path)
    parent = group.start("sleeper", [sys.executable, "-c", script])
    deadline = time.monotonic() + 10
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    grandchild = int(pid_file.read_text())
    group.stop(timeout=5)
    assert parent.popen.poll() is not None
    time.sleep(0.2)
    assert not _alive(grandchild)
    assert group.processes == []


def test_watch_raises_when_a_process_dies(tmp_path) -> None:
    group = ProcessGroup(log_dir=tmp_path)
    group.start("short-lived", [sys.executable, "-c", "raise SystemExit(3)"])
    try:
        with pytest.raises(RuntimeError, match="short-lived exited with code 3"):
            group.watch(interval=0.05)
    finally:
        group.stop(timeout=5)


def test_a_process_whose_parent_dies_gets_sigterm(tmp_path) -> None:
    """What `make demo` killed leaves behind: an orphan that must stop itself."""
    flag = tmp_path / "stopped"
    child = (
        "import time, pathlib; from mlsys_assets.processes import raise_on_sigterm, "
        "stop_with_parent; raise_on_sigterm(); stop_with_parent(0.05)\n"
        "try:\n    time.sleep(30)\n"
        f"except KeyboardInterrupt:\n    pathlib.Path({str(flag)!r}).write_text('stopped')"
    )
    parent = (
        "import subprocess, sys, time;"
        f"subprocess.Popen([sys.executable, '-c', {child!r}]); time.sleep(1.5)"
    )
    subprocess.run([sys.executable, "-c", parent], check=True, timeout=30)  # exits, orphaning
    deadline = time.monotonic() + 10
    while not flag.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert flag.read_text() == "stopped"


def test_stop_reaches_what_a_process_left_running_after_it_exited(tmp_path) -> None:
    """A server whose main process died still has workers in its group: they are stopped too."""
    pid_file = tmp_path / "orphan.pid"
    script = (
        "import subprocess, sys, pathlib;"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
        f"pathlib.Path({str(pid_file)!r}).write_text(str(p.pid))"
    )
    group = ProcessGroup(log_dir=tmp_path)
    leader = group.start("leader", [sys.executable, "-c", script])
    leader.popen.wait(timeout=10)
    orphan = int(pid_file.read_text())
    assert _alive(orphan)
    group.stop(timeout=5)
    time.sleep(0.2)
    assert not _alive(orphan)


def test_free_ports_are_different_and_free() -> None:
    """A server given an HTTP and a gRPC port must not get the same one twice."""
    for _ in range(50):
        ports = free_ports(4)
        assert len(set(ports)) == 4
        for port in ports:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", port))


def test_a_stop_that_a_library_turned_into_its_own_error_is_still_a_stop(monkeypatch) -> None:
    """pandas' reader, interrupted mid-read, raises ParserError instead of KeyboardInterrupt:
    the demo must still stop quietly, as on any Ctrl-C."""
    import signal

    from mlsys_assets import processes

    stops = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {number: signal.getsignal(number) for number in stops}
    monkeypatch.setattr(processes, "_stop_signals", [])
    try:
        processes.raise_on_sigterm()
        assert not processes.is_a_stop(ValueError("a read failed, nobody asked to stop"))
        with pytest.raises(ValueError) as raised:
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)
            except KeyboardInterrupt as exc:
                raise ValueError("Calling read(nbytes) on source failed") from exc
        assert processes.is_a_stop(raised.value)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
