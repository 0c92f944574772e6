"""Background threads that share a process with a request loop hand the GIL back often.

A serving process answers on one event loop while threads write its logs and publish its
decisions. A thread converting or encoding hundreds of records in a row keeps the GIL until the
interpreter's forced switch (5 ms by default), and every request waiting on the loop meanwhile
waits too: the periodic stalls that made the p99 latency. Such threads work in steps of
``STEP`` items and call ``step_aside`` between them, so a waiting request runs at once.
"""

from __future__ import annotations

import time

STEP = 128  # items between two hand-overs: tens of microseconds of work each


def step_aside() -> None:
    """Release the GIL now: a thread waiting for it (the request loop) runs first."""
    time.sleep(0)
