"""A SIGTERM or Ctrl-C that Dagster's in-process execution swallows still stops the command."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest
from dagster._utils.interrupts import capture_interrupts

from mlsys_assets.interrupts import interrupts_kept


@pytest.fixture(autouse=True)
def handlers_restored() -> Iterator[None]:
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def _signal_self(sig: signal.Signals) -> None:
    os.kill(os.getpid(), sig)
    time.sleep(0.05)  # Python runs handlers between bytecodes: let it


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_dagster_captured_and_forgot_raises_after_the_run(sig: signal.Signals) -> None:
    with pytest.raises(KeyboardInterrupt), interrupts_kept():
        with capture_interrupts():  # what dg.materialize does around a run
            _signal_self(sig)
        # Dagster has cleared its flag: without the guard, execution would go on from here


def test_a_quiet_block_returns_normally_and_restores_the_wakeup_fd() -> None:
    before = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(before)
    with interrupts_kept():
        pass
    assert signal.set_wakeup_fd(before) == before


def test_other_signals_do_not_stop_the_command() -> None:
    signal.signal(signal.SIGUSR1, lambda *_: None)
    try:
        with interrupts_kept():
            _signal_self(signal.SIGUSR1)
    finally:
        signal.signal(signal.SIGUSR1, signal.SIG_DFL)
