"""The canary verdict: live metrics of champion and challenger on the same days.

Both variants serve the same kind of traffic at the same time (the split is a hash of the
request id), so comparing their ROC AUC on the days both served and got labels is fair. The
verdict is only given once the challenger has enough labelled predictions.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass

import duckdb
import numpy as np
import pandas as pd

from mlsys_assets.monitoring.performance import attach_labels
from mlsys_assets.monitoring.prediction_log import read_feedback, read_predictions
from mlsys_assets.nycflights import FIRST_DAY, LAST_DAY
from mlsys_assets.settings import Settings


@dataclass(frozen=True)
class CanaryVerdict:
    champion: str | None
    challenger: str | None
    labelled_champion: int
    labelled_challenger: int
    auc_champion: float | None
    auc_challenger: float | None
    ready: bool
    decision: str  # "promote" | "rollback" | "wait"
    reason: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _auc(frame: pd.DataFrame) -> float | None:
    from sklearn.metrics import roc_auc_score  # slow to import: only when a canary is judged

    y = frame["label"].to_numpy(dtype=float)
    if len(frame) == 0 or len(np.unique(y)) < 2:
        return None
    return float(roc_auc_score(y, frame["delay_probability"].to_numpy(dtype=float)))


def evaluate_canary(
    connect: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]],
    settings: Settings,
    champion: str | None,
    challenger: str | None,
) -> CanaryVerdict:
    """Compare the two versions on labelled live predictions; decide once there are enough.

    ``connect`` opens a read-only warehouse connection: it is held for the label join only,
    not while the prediction log is read (readers never keep a writer waiting).
    """

    def verdict(decision: str, reason: str, **numbers: object) -> CanaryVerdict:
        base: dict[str, object] = {
            "labelled_champion": 0, "labelled_challenger": 0,
            "auc_champion": None, "auc_challenger": None,
        }  # fmt: skip
        base.update(numbers)
        return CanaryVerdict(
            champion=champion, challenger=challenger, ready=decision != "wait",
            decision=decision, reason=reason, **base,  # type: ignore[arg-type]
        )  # fmt: skip

    if challenger is None or champion is None:
        return verdict("wait", "no challenger in canary")
    predictions = read_predictions(settings, FIRST_DAY, LAST_DAY)
    if predictions.empty:
        return verdict("wait", "no logged predictions yet")
    versions = predictions["model_version"].astype(str)
    served = predictions[versions.isin([champion, challenger])].copy()
    if served.empty:  # only other versions (or fallbacks) answered so far: nothing to compare
        return verdict("wait", f"no logged predictions of v{champion} or v{challenger} yet")
    served["version"] = versions[served.index]
    feedback = read_feedback(settings)
    with connect() as conn:
        labelled = attach_labels(conn, settings, served, feedback)
    labelled = labelled[labelled["label"].notna()]
    both_days = set(labelled.loc[labelled.version == champion, "flight_date"]) & set(
        labelled.loc[labelled.version == challenger, "flight_date"]
    )
    same_days = labelled[labelled["flight_date"].isin(both_days)]
    champ = same_days[same_days.version == champion]
    chall = same_days[same_days.version == challenger]
    numbers = {
        "labelled_champion": len(champ),
        "labelled_challenger": len(chall),
        "auc_champion": _auc(champ),
        "auc_challenger": _auc(chall),
    }
    if len(chall) < settings.canary_min_labelled:
        return verdict(
            "wait",
            f"{len(chall)} of {settings.canary_min_labelled} labelled challenger predictions",
            **numbers,
        )
    auc_champion, auc_challenger = numbers["auc_champion"], numbers["auc_challenger"]
    if auc_champion is None or auc_challenger is None:
        return verdict("wait", "labels of one class only so far", **numbers)
    assert isinstance(auc_champion, float) and isinstance(auc_challenger, float)
    if auc_challenger >= auc_champion - settings.canary_margin:
        return verdict(
            "promote",
            f"live AUC v{challenger} {auc_challenger:.4f} >= v{champion} {auc_champion:.4f}"
            f" - margin {settings.canary_margin}",
            **numbers,
        )
    return verdict(
        "rollback",
        f"live AUC v{challenger} {auc_challenger:.4f} < v{champion} {auc_champion:.4f}"
        f" - margin {settings.canary_margin}",
        **numbers,
    )
