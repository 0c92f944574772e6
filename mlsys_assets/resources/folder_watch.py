"""Sleep until a file changes in some folders, or a timeout: a reader of files that is told.

An idle reader that polls folders pays for every look (the stream processor read its topics'
indexes 200 times a second in ``mlsys demo``: a tenth of a core with nothing to do) and adds up
to a poll interval of latency when something arrives. On Linux, inotify tells the reader
instead: ``wait`` returns as soon as a file in a watched folder is written, created, moved in
or removed, and the reader looks again. Changes made after the watch was made and before
``wait`` is called are queued by the kernel, so a reader that looked, found nothing, then
waits, never sleeps through a change. Where inotify is missing (macOS, a container without
it), ``wait`` sleeps the timeout (or until ``wake``): polling as before.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import select
from collections.abc import Iterable
from pathlib import Path

# <sys/inotify.h>
_IN_MODIFY = 0x002
_IN_CLOSE_WRITE = 0x008
_IN_MOVED_TO = 0x080
_IN_CREATE = 0x100
_IN_DELETE = 0x200
_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = 0o2000000
_MASK = _IN_MODIFY | _IN_CLOSE_WRITE | _IN_MOVED_TO | _IN_CREATE | _IN_DELETE


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        libc.inotify_init1  # noqa: B018 - present or AttributeError
    except (OSError, AttributeError):
        return None
    return libc


class FolderWatch:
    """``wait(timeout)``: return when a file in one of ``folders`` changes, ``wake()`` is called
    (from another thread or a signal handler: a stop), or after ``timeout``."""

    def __init__(self, folders: Iterable[Path]) -> None:
        self._fd: int | None = None
        self._pipe: tuple[int, int] | None = os.pipe()  # wake(): a byte, seen by a select
        for end in self._pipe:
            os.set_blocking(end, False)
        folders = list(folders)
        libc = _libc() if folders else None
        if libc is None:
            return
        fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if fd < 0:
            return
        for folder in folders:
            Path(folder).mkdir(parents=True, exist_ok=True)
            if libc.inotify_add_watch(fd, os.fsencode(folder), _MASK) < 0:
                os.close(fd)
                return
        self._fd = fd

    @property
    def notified(self) -> bool:
        """Whether changes wake ``wait`` (else it only sleeps)."""
        return self._fd is not None

    def wait(self, timeout: float) -> bool:
        """Block until a change, a ``wake()`` or ``timeout`` seconds; whether a change or a wake
        came (all queued notifications are consumed: one wake for a burst of writes)."""
        if self._pipe is None:
            raise ValueError("wait on a closed FolderWatch")
        watched = [self._pipe[0]] if self._fd is None else [self._fd, self._pipe[0]]
        ready, _, _ = select.select(watched, [], [], timeout)
        for fd in ready:
            _drain(fd)
        return bool(ready)

    def wake(self) -> None:
        """End a ``wait`` under way (or the next one) at once."""
        pipe = self._pipe
        if pipe is not None:  # closed: nobody waits
            with contextlib.suppress(OSError):  # full: a wake is pending anyway
                os.write(pipe[1], b"!")

    def close(self) -> None:
        fds = [self._fd, *(self._pipe or ())]
        self._fd = self._pipe = None
        for fd in fds:
            if fd is not None:
                os.close(fd)

    def __enter__(self) -> FolderWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 65536):
            pass
    except BlockingIOError:
        pass
