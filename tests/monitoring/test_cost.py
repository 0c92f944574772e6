"""Business cost per variant: realised on labelled answers, estimated from p on all of them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlsys_assets.business_cost import CostModel
from mlsys_assets.monitoring.cost import variant_costs

COST = CostModel(missed_delay=50.0, false_alarm=10.0)


def test_realised_cost_counts_labelled_errors_and_the_estimate_uses_every_answer() -> None:
    scored = pd.DataFrame(
        {
            "variant": ["champion", "champion", "champion", "shadow", "shadow", "shadow"],
            "delay_probability": [0.8, 0.1, 0.3, 0.6, 0.4, 0.2],
            "delayed": [True, False, False, True, False, False],
            # a false alarm, a missed delay, an unknown; a hit, a correct silence, an unknown
            "label": [0.0, 1.0, np.nan, 1.0, 0.0, np.nan],
        }
    )
    table = variant_costs(scored, COST).set_index("variant")
    champion, shadow = table.loc["champion"], table.loc["shadow"]
    assert (champion["flights"], champion["labelled"]) == (3, 2)
    assert champion["realised_cost"] == pytest.approx(10.0 + 50.0)
    assert champion["realised_per_flight"] == pytest.approx(30.0)
    assert shadow["realised_cost"] == pytest.approx(0.0)
    # expected: (1 - p) x 10 when warned, p x 50 when silent, for every answer
    assert champion["estimated_cost"] == pytest.approx(0.2 * 10 + 0.1 * 50 + 0.3 * 50)
    assert shadow["estimated_per_flight"] == pytest.approx((0.4 * 10 + 0.4 * 50 + 0.2 * 50) / 3)


def test_no_labels_yet_gives_an_estimate_and_no_realised_cost() -> None:
    scored = pd.DataFrame(
        {"variant": ["champion"], "delay_probability": [0.5], "delayed": [True], "label": [np.nan]}
    )
    row = variant_costs(scored, COST).iloc[0]
    assert row["labelled"] == 0 and pd.isna(row["realised_per_flight"])
    assert row["estimated_per_flight"] == pytest.approx(5.0)
