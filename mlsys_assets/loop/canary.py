"""The canary verdict: champion and challenger on live labelled traffic.

``paired`` (the default, ``MLSYS_LOOP__CANARY_RULE``): serving scores every flight the champion answers
with the challenger too (variant ``shadow`` in the log), so both models are judged on the *same*
flights by the sequential test of ``verdict.py`` (a confidence sequence on the log-loss difference,
looked at after each day's labels): promote, roll back, keep the champion, or wait for the next
look. ``unpaired`` is the earlier rule, kept for comparison (the backtest measures
both): the ROC AUC of each variant's own traffic share on the days both served, once the
challenger has ``canary_min_labelled`` labelled answers, against a fixed margin and no test:
with a few hundred flights a share, close to a coin toss.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass

import duckdb
import numpy as np
import pandas as pd

from mlsys_assets.business_cost import CostModel
from mlsys_assets.lazy_imports import load
from mlsys_assets.monitoring.performance import attach_labels
from mlsys_assets.monitoring.prediction_log import log_files, read_feedback, read_predictions
from mlsys_assets.nycflights import FIRST_DAY, LAST_DAY
from mlsys_assets.prediction_log_contract import FEEDBACK_LOG_DIR, PREDICTION_LOG_DIR
from mlsys_assets.registry.verdict import VerdictRule, judge
from mlsys_assets.settings import Settings

# What a verdict reads of each logged answer: the flight's key (to find its label), who answered
# and what. The sensor judges on every tick: not the feature values, most of a record.
VERDICT_COLUMNS = ("carrier", "flight", "origin", "model_version", "delay_probability", "delayed")


@dataclass(frozen=True)
class CanaryVerdict:
    champion: str | None
    challenger: str | None
    labelled_champion: int
    labelled_challenger: int
    auc_champion: float | None
    auc_challenger: float | None
    ready: bool
    decision: str  # "promote" | "rollback" | "keep" | "wait"
    reason: str
    # The paired verdict's numbers (None under the unpaired rule): pairs used, the AUC difference
    # (challenger - champion) with its interval, log loss and business cost beside it.
    rule: str = "unpaired: AUC of each variant's own share, fixed margin"
    n: int | None = None
    auc_diff: float | None = None
    auc_low: float | None = None
    auc_high: float | None = None
    confidence: float | None = None
    log_loss_diff: float | None = None
    log_loss_low: float | None = None  # the paired verdict decides on this interval
    log_loss_high: float | None = None
    cost_diff: float | None = None  # realised cost per flight, challenger - champion
    cost_low: float | None = None
    cost_high: float | None = None
    cost_champion: float | None = None  # realised cost per labelled flight
    cost_challenger: float | None = None

    @property
    def interval(self) -> str:
        if self.auc_low is None or self.auc_high is None:
            return ""
        return f"[{self.auc_low:+.4f}, {self.auc_high:+.4f}]"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _auc(frame: pd.DataFrame) -> float | None:
    roc_auc_score = load("sklearn.metrics").roc_auc_score  # slow: only when a canary is judged

    y = frame["label"].to_numpy(dtype=float)
    if len(frame) == 0 or len(np.unique(y)) < 2:
        return None
    return float(roc_auc_score(y, frame["delay_probability"].to_numpy(dtype=float)))


Connect = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]


def verdict_inputs(settings: Settings, champion: str | None, challenger: str | None) -> str:
    """A digest of everything a verdict reads, from the file system's metadata alone: the two
    versions, every prediction- and feedback-log file (name, size, mtime) and the warehouse's
    files (labels land there). Equal digests, equal verdicts: the sensor, which ticks every few
    seconds through a canary of days, reads the log (a year of answers and their shadows) only
    when something it reads has changed."""
    digest = hashlib.blake2b(f"{champion}|{challenger}".encode(), digest_size=16)
    warehouse = settings.warehouse_path
    paths = [str(warehouse), f"{warehouse}.wal"]  # DuckDB's write-ahead log beside it
    for folder in (PREDICTION_LOG_DIR, FEEDBACK_LOG_DIR):
        paths += log_files(settings.predictions_dir / folder)
    for path in paths:
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            digest.update(f"{path}:-".encode())
            continue
        digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def evaluate_canary(
    connect: Connect, settings: Settings, champion: str | None, challenger: str | None
) -> CanaryVerdict:
    """The verdict of the settings' rule (``paired`` by default, else ``unpaired``)."""
    if settings.loop.canary_rule == "paired":
        return evaluate_paired(connect, settings, champion, challenger)
    return evaluate_unpaired(connect, settings, champion, challenger)


def shadow_pairs(
    connect: Connect, settings: Settings, champion: str, challenger: str
) -> pd.DataFrame:
    """Labelled flights answered by the champion and shadow-scored by the challenger, in the
    order their labels arrive (flight day, then departure): ``label``, ``p_champion``,
    ``p_challenger``, ``delayed_champion``, ``delayed_challenger``."""
    answers = read_predictions(settings, FIRST_DAY, LAST_DAY, columns=VERDICT_COLUMNS)
    answers = answers[
        answers["variant"].eq("champion") & answers["model_version"].astype(str).eq(champion)
    ]
    shadow = read_predictions(settings, FIRST_DAY, LAST_DAY, shadow=True, columns=VERDICT_COLUMNS)
    shadow = shadow[shadow["model_version"].astype(str).eq(challenger)]
    pairs = answers.merge(
        shadow[["request_id", "delay_probability", "delayed"]].rename(
            columns={"delay_probability": "p_challenger", "delayed": "delayed_challenger"}
        ),
        on="request_id",
    ).rename(columns={"delay_probability": "p_champion", "delayed": "delayed_champion"})
    if pairs.empty:
        return pairs.assign(label=pd.Series(dtype="float64"))
    feedback = read_feedback(settings, pairs["request_id"])
    with connect() as conn:
        labelled = attach_labels(conn, settings, pairs, feedback)
    labelled = labelled[labelled["label"].notna()]
    order = ["flight_date", "scheduled_departure", "request_id"]
    return labelled.sort_values(order, kind="stable").reset_index(drop=True)


def evaluate_paired(
    connect: Connect, settings: Settings, champion: str | None, challenger: str | None
) -> CanaryVerdict:
    """The sequential paired verdict on the labelled shadow pairs (``verdict.judge``)."""
    rule = VerdictRule.from_settings(settings)

    def verdict(decision: str, reason: str, **numbers: object) -> CanaryVerdict:
        base: dict[str, object] = {
            "labelled_champion": 0, "labelled_challenger": 0,
            "auc_champion": None, "auc_challenger": None, "rule": rule.describe(),
        }  # fmt: skip
        base.update(numbers)
        return CanaryVerdict(
            champion=champion, challenger=challenger, ready=decision != "wait",
            decision=decision, reason=reason, **base,  # type: ignore[arg-type]
        )  # fmt: skip

    if challenger is None or champion is None:
        return verdict("wait", "no challenger in canary")
    pairs = shadow_pairs(connect, settings, champion, challenger)
    if pairs.empty:
        return verdict("wait", f"no labelled shadow pairs of v{champion} and v{challenger} yet")
    cost = CostModel.from_settings(settings)
    y = pairs["label"].to_numpy(dtype=float)
    d_champion = pairs["delayed_champion"].astype(bool).to_numpy()
    d_challenger = pairs["delayed_challenger"].astype(bool).to_numpy()
    judged = judge(
        y,
        pairs["p_champion"].to_numpy(dtype=float),
        pairs["p_challenger"].to_numpy(dtype=float),
        rule,
        batches=pairs["flight_date"].to_numpy(),  # a day's outcomes land together
        decided_champion=d_champion,
        decided_challenger=d_challenger,
        cost=cost,
    )
    n = judged.n or len(pairs)
    reason = f"v{challenger} vs v{champion}: {judged.reason}"
    if judged.cost_diff is not None:
        reason += f"; cost per flight {judged.cost_diff:+.2f} [{judged.cost_low:+.2f}, {judged.cost_high:+.2f}]"
    return verdict(
        judged.decision,
        reason,
        labelled_champion=len(pairs),
        labelled_challenger=len(pairs),
        auc_champion=judged.auc_champion,
        auc_challenger=judged.auc_challenger,
        n=judged.n,
        auc_diff=judged.auc_diff,
        auc_low=judged.auc_low,
        auc_high=judged.auc_high,
        confidence=judged.confidence,
        log_loss_diff=judged.log_loss_diff,
        log_loss_low=judged.log_loss_low,
        log_loss_high=judged.log_loss_high,
        cost_diff=judged.cost_diff,
        cost_low=judged.cost_low,
        cost_high=judged.cost_high,
        cost_champion=float(cost.realised(y[:n], d_champion[:n]).mean()),
        cost_challenger=float(cost.realised(y[:n], d_challenger[:n]).mean()),
    )


def evaluate_unpaired(
    connect: Connect, settings: Settings, champion: str | None, challenger: str | None
) -> CanaryVerdict:
    """Compare the two versions on each one's labelled live answers; decide once there are enough.

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
    predictions = read_predictions(settings, FIRST_DAY, LAST_DAY, columns=VERDICT_COLUMNS)
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
    if len(chall) < settings.loop.canary_min_labelled:
        return verdict(
            "wait",
            f"{len(chall)} of {settings.loop.canary_min_labelled} labelled challenger predictions",
            **numbers,
        )
    auc_champion, auc_challenger = numbers["auc_champion"], numbers["auc_challenger"]
    if auc_champion is None or auc_challenger is None:
        return verdict("wait", "labels of one class only so far", **numbers)
    assert isinstance(auc_champion, float) and isinstance(auc_challenger, float)
    if auc_challenger >= auc_champion - settings.loop.canary_margin:
        return verdict(
            "promote",
            f"live AUC v{challenger} {auc_challenger:.4f} >= v{champion} {auc_champion:.4f}"
            f" - margin {settings.loop.canary_margin}",
            **numbers,
        )
    return verdict(
        "rollback",
        f"live AUC v{challenger} {auc_challenger:.4f} < v{champion} {auc_champion:.4f}"
        f" - margin {settings.loop.canary_margin}",
        **numbers,
    )
