"""Alerts that reach a person: a webhook notifier with deduplication and recovery messages.

The monitoring checks and a run-failure sensor call ``Notifier.fire`` for what fails and
``Notifier.resolve`` for what passes; one message goes out per new failure, and one when it
clears (``notifier.py``). The sensors live in ``sensors.py``.
"""

from __future__ import annotations

import dagster as dg

from mlsys_assets.alerts.notifier import Alert, Notifier, slack_body

__all__ = ["Alert", "Notifier", "build_defs", "slack_body"]


def build_defs() -> dg.Definitions:
    """The run-failure and run-recovery sensors."""
    from mlsys_assets.alerts.sensors import SENSORS

    return dg.Definitions(sensors=SENSORS)
