"""Business cost per variant (and per day): realised once labels land, estimated before.

The prices are ``business_cost.CostModel`` (``MLSYS_COST__MISSED_DELAY``,
``MLSYS_COST__FALSE_ALARM``). Realised: each labelled answer's error cost. Estimated: the expected
cost under the answer's own probability (p x missed delay for a "not delayed" answer, (1 - p) x
false alarm for a "delayed" one), over every answer, labelled or not: the CBPE idea applied to
cost, right to the extent the served probabilities are calibrated (XGBoost's log-loss
objective keeps them close). Shadow scores count as their own variant, ``shadow``: what the
challenger would have cost on the champion's flights, the pair the canary verdict judges.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import duckdb
import numpy as np
import pandas as pd

from mlsys_assets.business_cost import CostModel
from mlsys_assets.monitoring.performance import attach_labels
from mlsys_assets.monitoring.prediction_log import read_feedback, read_predictions
from mlsys_assets.settings import Settings

COLUMNS = [
    "flights", "labelled", "realised_cost", "realised_per_flight",
    "estimated_cost", "estimated_per_flight",
]  # fmt: skip


def variant_costs(
    scored: pd.DataFrame, cost: CostModel, by: Sequence[str] = ("variant",)
) -> pd.DataFrame:
    """Cost per group of answers with ``delay_probability``, ``delayed`` and ``label`` (NaN:
    not known yet)."""
    if scored.empty:
        return pd.DataFrame(columns=[*by, *COLUMNS])
    p = scored["delay_probability"].to_numpy(dtype=float)
    decided = scored["delayed"].astype(bool).to_numpy()
    label = scored["label"].to_numpy(dtype=float)
    known = ~np.isnan(label)
    frame = scored[list(by)].copy()
    frame["estimated"] = cost.expected(p, decided)
    frame["realised"] = np.where(known, cost.realised(np.nan_to_num(label), decided), np.nan)
    frame["known"] = known
    grouped = frame.groupby(list(by), dropna=False, sort=True)
    out = pd.DataFrame(
        {
            "flights": grouped.size(),
            "labelled": grouped["known"].sum(),
            "realised_cost": grouped["realised"].sum(min_count=1),
            "estimated_cost": grouped["estimated"].sum(),
        }
    )
    out["realised_per_flight"] = out["realised_cost"] / out["labelled"].where(out["labelled"] > 0)
    out["estimated_per_flight"] = out["estimated_cost"] / out["flights"]
    return out.reset_index()[[*by, *COLUMNS]]


def read_variant_costs(
    settings: Settings,
    conn: duckdb.DuckDBPyConnection,
    start: dt.date,
    end: dt.date,
    by: Sequence[str] = ("variant",),
) -> pd.DataFrame:
    """``variant_costs`` of the logged answers and shadow scores of flights ``start..end``."""
    answers = read_predictions(settings, start, end)
    shadow = read_predictions(settings, start, end, shadow=True)
    scored = pd.concat([answers, shadow], ignore_index=True)
    if scored.empty:
        return variant_costs(scored.assign(label=pd.Series(dtype=float)), CostModel(), by)
    labelled = attach_labels(conn, settings, scored, read_feedback(settings))
    return variant_costs(labelled, CostModel.from_settings(settings), by)
