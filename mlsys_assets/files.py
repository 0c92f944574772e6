"""Writing files that readers may be reading: all or nothing."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write_text(target: Path, text: str, *, durable: bool = True) -> None:
    """Write through a temporary file in the same folder and ``os.replace``.

    A reader (an ingestion run, a sensor) sees the old file or the new one, never half of it;
    a crash leaves no partial file behind. ``durable=False`` skips the fsync, for a file that
    is cheap to be slightly behind after a power loss (the replay clock's minute steps).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
