"""Train, log, register, gate and place a model in one call, without Dagster.

Serving's tests and the demo need a real registered model in seconds: ``train_and_register``
runs the same functions the assets run, on an explicit window.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from mlsys_assets.registry import aliases
from mlsys_assets.registry.gate import GateResult, run_gate
from mlsys_assets.registry.registration import ModelVersionRef, register
from mlsys_assets.resources.tracking import Tracking
from mlsys_assets.resources.warehouse import Warehouse
from mlsys_assets.settings import Settings
from mlsys_assets.training.model_log import data_tags, evaluation_tags, log_evaluation, log_model
from mlsys_assets.training.pipeline import TrainedModel, build_training_set, explicit_windows
from mlsys_assets.training.pipeline import train_model as run_training
from mlsys_assets.training.splits import TEST


@dataclass(frozen=True)
class RegisteredModelInfo:
    """A registered version, its gate verdict and where the aliases stand afterwards."""

    name: str
    version: str
    run_id: str
    model_uri: str
    gate_passed: bool
    gate_reasons: list[str]
    aliases: dict[str, str | None]
    metrics: dict[str, float] = field(default_factory=dict)
    digest: str = ""
    test_window: str = ""


def register_trained(
    tracking: Tracking, trained: TrainedModel, settings: Settings, *, run_name: str | None = None
) -> tuple[ModelVersionRef, GateResult]:
    """Log the model and its evaluation, register a version, run the gate, move aliases."""
    training_set = trained.training_set
    logged = log_model(
        tracking,
        training_set,
        trained.search,
        trained.booster,
        params=trained.params,
        run_name=run_name,
    )
    log_evaluation(tracking, logged, trained.evaluation)
    ref = register(
        tracking,
        logged,
        training_set.spec,
        {**data_tags(training_set), **evaluation_tags(trained.evaluation)},
    )
    gate = run_gate(
        tracking,
        ref.version,
        training_set.part(TEST),
        test_window=str(training_set.windows.test),
        min_roc_auc=settings.registry.gate_min_roc_auc,
        min_pr_lift=settings.registry.gate_min_pr_lift,
        margin=settings.registry.gate_margin,
    )
    if gate.passed:
        aliases.after_gate(tracking, ref.version)
    return ref, gate


def train_and_register(
    settings: Settings,
    train_start: dt.date,
    train_end: dt.date,
    test_start: dt.date,
    test_end: dt.date,
    *,
    trials: int = 2,
    seed: int | None = None,
    run_name: str | None = None,
) -> RegisteredModelInfo:
    """Train on ``train_start..train_end`` (validation at its end), test on the test window,
    register a new version of ``settings.registry.model_name`` and apply the quality gate.

    The warehouse must hold the raw tables and the feature store's offline tables for the
    whole span. A few trials over a few weeks take seconds (the fast mode for tests and demo).
    """
    seed = settings.seed if seed is None else seed
    windows = explicit_windows(settings, train_start, train_end, test_start, test_end)
    with Warehouse(path=str(settings.warehouse_path)).connect() as conn:
        training_set = build_training_set(conn, settings, windows, seed)
    trained = run_training(training_set, settings, trials=trials, seed=seed)
    tracking = Tracking.from_settings(settings)
    ref, gate = register_trained(tracking, trained, settings, run_name=run_name)
    return RegisteredModelInfo(
        name=ref.name,
        version=ref.version,
        run_id=ref.run_id,
        model_uri=ref.model_uri,
        gate_passed=gate.passed,
        gate_reasons=gate.reasons,
        aliases=aliases.current(tracking),
        metrics=dict(trained.evaluation.metrics),
        digest=training_set.digest,
        test_window=str(windows.test),
    )
