"""Label rules: 15+ minutes late is delayed; cancelled and diverted flights are explicit."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlsys_assets.training.labels import labels, outcomes


def test_outcomes_and_policies() -> None:
    arr_delay = pd.Series([14.0, 15.0, None, None, -5.0])
    cancelled = pd.Series([False, False, True, False, False])
    outcome = outcomes(arr_delay, cancelled)
    assert list(outcome) == ["on_time", "delayed", "cancelled", "diverted", "on_time"]
    excluded = labels(outcome, "exclude")
    assert list(excluded[[0, 1, 4]]) == [0.0, 1.0, 0.0]
    assert excluded[[2, 3]].isna().all()
    as_delayed = labels(outcome, "delayed")
    assert as_delayed[2] == 1.0 and np.isnan(as_delayed[3])  # diverted stays excluded
