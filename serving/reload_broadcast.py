"""``POST /admin/reload`` for every worker: a generation file that each worker watches.

The request lands on one uvicorn worker; the others would see a moved alias only at their next
registry poll (30 s). So the worker that reloads also writes a new token to
``MLSYS_HOME/serving/reload_generation``, and every worker's model watcher reads that file every
``CHECK_SECONDS`` and reloads when the token changed: all workers serve the new versions within
a second. A file, not a signal to the worker processes: a worker does not know its siblings'
pids (uvicorn's supervisor does), a worker restarted by uvicorn reads the file like the others,
and any serve process of the same MLSYS_HOME (another port, another replica on a shared disk)
follows too. Reading a 32-byte file four times a second costs nothing measurable.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

CHECK_SECONDS = 0.25  # how often a worker looks: a reload reaches every worker within this


class ReloadGeneration:
    """The token of the last reload; ``changed`` is true once per new token seen."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen = self._read()  # a reload before this process started is not ours to redo

    def bump(self) -> None:
        """Tell every worker to reload (this one has: it remembers the token as seen)."""
        token = uuid.uuid4().hex
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(token)
        os.replace(tmp, self.path)  # a reader sees the old token or the new one, whole
        self.seen = token

    def changed(self) -> bool:
        current = self._read()
        if current == self.seen:
            return False
        self.seen = current
        return True

    def _read(self) -> str | None:
        try:
            return self.path.read_text()
        except OSError:
            return None
