"""Label rules: a flight is delayed when it arrives 15 or more minutes late.

Flights without an arrival delay are never dropped silently: a *cancelled* flight (no arrival
time) is either excluded or counted as delayed (``cancelled_policy``), a *diverted* one (an
arrival time but no arrival delay: it landed elsewhere) is excluded. Both are counted.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

DELAY_MINUTES = 15.0
ON_TIME, DELAYED, CANCELLED, DIVERTED = "on_time", "delayed", "cancelled", "diverted"
CancelledPolicy = Literal["exclude", "delayed"]


def outcomes(arr_delay: pd.Series, cancelled: pd.Series) -> pd.Series:
    """Each flight's outcome: on_time, delayed, cancelled or diverted."""
    delay = pd.to_numeric(arr_delay, errors="coerce").astype("float64")
    is_cancelled = cancelled.fillna(False).astype(bool)
    out = np.where(
        is_cancelled,
        CANCELLED,
        np.where(delay.isna(), DIVERTED, np.where(delay >= DELAY_MINUTES, DELAYED, ON_TIME)),
    )
    return pd.Series(out, index=arr_delay.index, dtype="object")


def labels(outcome: pd.Series, cancelled_policy: CancelledPolicy) -> pd.Series:
    """1.0 delayed, 0.0 on time, NaN for an outcome the policy excludes."""
    label = pd.Series(np.nan, index=outcome.index, dtype="float64")
    label[outcome == DELAYED] = 1.0
    label[outcome == ON_TIME] = 0.0
    if cancelled_policy == "delayed":
        label[outcome == CANCELLED] = 1.0
    return label
