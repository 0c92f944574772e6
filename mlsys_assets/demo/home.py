"""A demo starts from a clean ``MLSYS_HOME``, and never deletes a folder mlsys did not create."""

from __future__ import annotations

import shutil
from pathlib import Path

from mlsys_assets.config_errors import ConfigurationError

MARKER = ".mlsys-home"


class HomeNotOurs(ConfigurationError):
    """MLSYS_HOME holds files mlsys did not write: the demo refuses to delete them."""


def reset_home(home: Path) -> None:
    """Empty ``home`` if mlsys made it (it carries the marker); refuse otherwise."""
    if home.exists() and any(home.iterdir()):
        if not (home / MARKER).exists():
            raise HomeNotOurs(
                f"{home} is not empty and was not created by mlsys; "
                "point MLSYS_HOME at a new folder or empty it yourself"
            )
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    (home / MARKER).write_text("created by mlsys; `mlsys demo` may delete this folder\n")
