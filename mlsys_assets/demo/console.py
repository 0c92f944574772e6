"""The demo's console shows mlsys's progress only; libraries' chatter goes to its log file.

pandas' FutureWarnings, Dagster's BetaWarnings and log lines, and MLflow's "Downloading
artifacts" bars are for whoever debugs a library, not for the person watching the demo: they
go to ``MLSYS_HOME/logs/demo.log`` (the servers' output is already under ``logs/``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

LIBRARY_LOGGERS = ("dagster", "mlflow", "alembic", "urllib3", "httpx", "py.warnings")


def quiet_console(log_path: Path) -> None:
    """Send warnings and library logging of this process to ``log_path``; no progress bars."""
    import mlflow  # noqa: F401 - it configures its loggers on import: import it before we do

    log_path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.captureWarnings(True)  # warnings.warn -> the "py.warnings" logger
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.propagate = False
    root = logging.getLogger()
    root.handlers = [handler]
    # MLflow reads it when it downloads a model; the servers the demo starts inherit it.
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
