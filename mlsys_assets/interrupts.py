"""A Ctrl-C or SIGTERM during an in-process Dagster run is never lost.

Dagster's in-process execution (``dg.materialize``) turns SIGINT and SIGTERM into a flag that it
checks at step boundaries, and clears the flag when the run ends. A signal that lands where no
check follows (the run's last events, say) is forgotten, and the command that started the run
carries on as if nobody had asked it to stop: ``make demo`` stopped during the demo's bootstrap
went on playing live days. ``interrupts_kept`` listens below Python's handlers, on the signal
wakeup fd, which hears every signal whatever handler is installed; a SIGINT or SIGTERM heard
during the block raises ``KeyboardInterrupt`` once the block returns.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from collections.abc import Iterator

STOPPING = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def interrupts_kept() -> Iterator[None]:
    """Raise ``KeyboardInterrupt`` after the block if SIGINT or SIGTERM arrived during it
    (main thread only: the wakeup fd, like signal handlers, belongs to it)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    heard, wakeup = socket.socketpair()
    heard.setblocking(False)
    wakeup.setblocking(False)
    previous = signal.set_wakeup_fd(wakeup.fileno(), warn_on_full_buffer=False)
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous)
        try:
            numbers = set(heard.recv(4096))
        except BlockingIOError:
            numbers = set()
        heard.close()
        wakeup.close()
    if numbers & STOPPING:
        raise KeyboardInterrupt("interrupted during an in-process run")
