"""The quality gate: may a registered version become ``challenger``?

It must pass absolute floors (ROC AUC, and a PR AUC clearly above the window's delay rate, i.e.
better than ranking at random) and be no worse than the current ``champion`` by more than a
margin, both scored here on the same test window. Floors are on ranking metrics on purpose: the
delay rate moves from week to week (storms), which shifts log loss for any model alike. The verdict is written to the version's tags, which alias moves re-check.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from mlsys_assets.model_contract import ALIAS_CHAMPION, BASELINE_ARTIFACT, TAG_GATE, TAG_TEST_WINDOW
from mlsys_assets.registry.store import load_version, version_by_alias
from mlsys_assets.resources.tracking import Tracking
from mlsys_assets.training.evaluate import predict
from mlsys_assets.training.metrics import score
from mlsys_assets.training.model_log import read_json_artifact

PASSED, FAILED = "passed", "failed"


@dataclass
class GateResult:
    """The verdict and the numbers behind it."""

    version: str
    passed: bool
    test_window: str
    roc_auc: float
    pr_auc: float
    delay_rate: float
    log_loss: float
    base_rate_log_loss: float
    min_roc_auc: float
    min_pr_lift: float
    margin: float
    champion_version: str | None = None
    champion_roc_auc: float | None = None
    reasons: list[str] = field(default_factory=list)

    def as_metadata(self) -> dict[str, str | float | bool | None]:
        data = asdict(self)
        data["reasons"] = "; ".join(self.reasons) or "none"
        return data


def run_gate(
    tracking: Tracking,
    version: str,
    test_frame: pd.DataFrame,
    *,
    test_window: str,
    min_roc_auc: float,
    min_pr_lift: float,
    margin: float,
) -> GateResult:
    """Score ``version`` (and the champion) on ``test_frame``, record and return the verdict."""
    candidate = load_version(tracking, version)
    y = test_frame["label"].to_numpy(dtype="float64")
    metrics = score(y, predict(candidate.booster, candidate.spec, test_frame))
    base_rate = float(read_json_artifact(tracking, candidate.run_id, BASELINE_ARTIFACT)["global"])
    base_log_loss = score(y, np.full(len(y), base_rate))["log_loss"]
    result = GateResult(
        version=version,
        passed=True,
        test_window=test_window,
        roc_auc=metrics["roc_auc"],
        pr_auc=metrics["pr_auc"],
        delay_rate=float(y.mean()),
        log_loss=metrics["log_loss"],
        base_rate_log_loss=base_log_loss,
        min_roc_auc=min_roc_auc,
        min_pr_lift=min_pr_lift,
        margin=margin,
    )
    if not result.roc_auc >= min_roc_auc:
        result.reasons.append(f"ROC AUC {result.roc_auc:.4f} below the floor {min_roc_auc:.4f}")
    if not result.pr_auc >= min_pr_lift * result.delay_rate:
        result.reasons.append(
            f"PR AUC {result.pr_auc:.4f} below {min_pr_lift:.2f} x the delay rate "
            f"{result.delay_rate:.4f}"
        )
    champion = version_by_alias(tracking, ALIAS_CHAMPION)
    if champion is not None and champion != version:
        incumbent = load_version(tracking, champion)
        champion_auc = score(y, predict(incumbent.booster, incumbent.spec, test_frame))["roc_auc"]
        result.champion_version, result.champion_roc_auc = champion, champion_auc
        if result.roc_auc < champion_auc - margin:
            result.reasons.append(
                f"ROC AUC {result.roc_auc:.4f} worse than champion v{champion}'s "
                f"{champion_auc:.4f} by more than {margin:.4f}"
            )
    result.passed = not result.reasons
    _record(tracking, result)
    return result


def _record(tracking: Tracking, result: GateResult) -> None:
    client = tracking.client()
    name = tracking.model_name
    tags = {
        TAG_GATE: PASSED if result.passed else FAILED,
        "gate_reasons": "; ".join(result.reasons) or "none",
        "gate_roc_auc": f"{result.roc_auc:.6f}",
        TAG_TEST_WINDOW: result.test_window,
        "gate_champion_version": result.champion_version or "none",
        "gate_champion_roc_auc": "none"
        if result.champion_roc_auc is None
        else f"{result.champion_roc_auc:.6f}",
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, result.version, key, value)
