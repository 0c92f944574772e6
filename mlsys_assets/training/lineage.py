"""What a model version must say about where it came from: code, environment, data, parameters.

Logged once per training run, so any version can be traced to the exact data window, the digest
of the rows it saw, the feature set, the commit and the library versions that made it.
"""

from __future__ import annotations

import importlib.metadata
import platform
import sys
from pathlib import Path

PACKAGES = (
    "mlsys",
    "xgboost",
    "mlflow",
    "optuna",
    "pandas",
    "numpy",
    "scikit-learn",
    "duckdb",
    "dagster",
)


def git_commit(start: Path | None = None) -> str:
    """The checked-out commit, read from ``.git`` without running git ("unknown" outside a repo)."""
    here = (start or Path(__file__)).resolve()
    for folder in (here, *here.parents):
        git = folder / ".git"
        if git.is_file():  # a worktree: "gitdir: <path>"
            git = Path(git.read_text().split(":", 1)[1].strip())
        if not git.is_dir():
            continue
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head
        ref = head.split(":", 1)[1].strip()
        common = git / "commondir"
        roots = [git] + ([(git / common.read_text().strip()).resolve()] if common.exists() else [])
        for root in roots:
            if (root / ref).exists():
                return (root / ref).read_text().strip()
            packed = root / "packed-refs"
            if packed.exists():
                for line in packed.read_text().splitlines():
                    if line.endswith(" " + ref):
                        return line.split(" ", 1)[0]
        return "unknown"
    return "unknown"


def environment() -> dict[str, str]:
    """Interpreter, platform and the versions of the libraries that shape a model."""
    env = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
    }
    for package in PACKAGES:
        try:
            env[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            env[package] = "absent"
    return env
