"""Dagster's storage migration scripts read once per process, not once per sensor tick.

Every sensor tick that uses resources builds a ``DagsterInstance`` in the code server, and each
SQLite storage it opens (runs, event log, schedules) asks alembic for the head revision of its
migrations, which parses every migration script from disk: about 30 ms of CPU per instance, the
larger half of a tick. With the loop's sensors ticking every second (``mlsys demo``), that was a
tenth of the demo's CPU on two cores. The scripts are part of the installed Dagster and cannot
change while the process runs, so their ``ScriptDirectory`` is kept after the first read.
Nothing else changes: the database's own revision is still read and compared every time.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.script import ScriptDirectory

# Dagster names them "dagster:_core/storage/alembic" (a package resource) or by path
_DAGSTER = ("dagster:", str(Path(__import__("dagster").__file__).resolve().parent))
_read_scripts = ScriptDirectory.from_config.__func__  # type: ignore[attr-defined]
_known: dict[str, ScriptDirectory] = {}
_lock = threading.Lock()


def _from_config(cls: type[ScriptDirectory], config: Config) -> Any:
    location = str(config.get_main_option("script_location") or "")
    if not location.startswith(_DAGSTER):  # another library's migrations: as before
        return _read_scripts(cls, config)
    with _lock:
        if location not in _known:
            _known[location] = _read_scripts(cls, config)
        return _known[location]


def remember_migration_heads() -> None:
    """Keep Dagster's migration scripts after their first read in this process (idempotent)."""
    ScriptDirectory.from_config = classmethod(_from_config)  # type: ignore[method-assign,assignment]
