"""Dagster assets of the training group: dataset, search, model, evaluation.

Each asset runs one plain function of this package. The training set is a warehouse snapshot
(``training.flight_delay_training_set``) that every later step reads back and checks against
its digest; the model binary lives in MLflow, assets hand on small records.

MLflow, XGBoost, Optuna and matplotlib are imported inside the assets that use them: every run
process loads this code location, and an ingestion run should not pay for them.
"""

import datetime as dt
from typing import Any

import dagster as dg

from mlsys_assets.features.assets import FEATURE_TABLE_ASSETS
from mlsys_assets.lazy_imports import load
from mlsys_assets.resources.run_settings import RunSettings
from mlsys_assets.resources.tracking import Tracking
from mlsys_assets.resources.warehouse import Warehouse
from mlsys_assets.training.dataset import TrainingSet, read_training_set, write_training_set

GROUP = "training"
POOL = "warehouse"


class TrainingConfig(dg.Config):
    """Run-time overrides of the training settings."""

    cutoff: str | None = None  # YYYY-MM-DD: last day of the test window
    trials: int | None = None
    seed: int | None = None


def _snapshot(warehouse: Warehouse, digest: str | None = None) -> TrainingSet:
    with warehouse.connect(read_only=True) as conn:
        training_set = read_training_set(conn)
    if digest is not None and training_set.digest != digest:
        raise dg.Failure(
            "the training set changed since this model's search started "
            f"({digest[:12]} -> {training_set.digest[:12]}): rematerialize the training group"
        )
    return training_set


@dg.asset(
    group_name=GROUP,
    deps=[asset.key for asset in FEATURE_TABLE_ASSETS],
    pool=POOL,
    kinds={"duckdb"},
)
def training_dataset(
    context: dg.AssetExecutionContext,
    config: TrainingConfig,
    warehouse: Warehouse,
    run_settings: RunSettings,
) -> dg.MaterializeResult:
    """Labelled flights of the training window, split by date with gaps, sampled, digested."""
    from mlsys_assets.training.pipeline import (
        build_training_set,
        configured_windows,
        latest_labelled_day,
    )

    settings = run_settings.resolve()
    seed = settings.seed if config.seed is None else config.seed
    if config.cutoff is not None:
        cutoff = dt.date.fromisoformat(config.cutoff)
        settings = settings.replace(training={"cutoff": cutoff.isoformat()})
    with warehouse.connect() as conn:
        windows = configured_windows(settings, latest_labelled_day(conn))
        training_set = build_training_set(conn, settings, windows, seed)
        write_training_set(conn, training_set)
    summary = training_set.summary
    context.log.info(f"training set {training_set.digest[:12]}: {windows.as_dict()}")
    return dg.MaterializeResult(
        metadata={
            **{k: v for k, v in summary.items() if isinstance(v, int | float | str)},
            "dagster/row_count": summary["rows_total"],
        }
    )


@dg.asset(group_name=GROUP, deps=[training_dataset], kinds={"optuna", "xgboost"})
def model_search(
    context: dg.AssetExecutionContext,
    config: TrainingConfig,
    warehouse: Warehouse,
    run_settings: RunSettings,
) -> dg.Output[dict[str, Any]]:
    """Optuna search over XGBoost parameters, pruned on validation AUC, seeded."""
    from mlsys_assets.training.fit import Matrices
    from mlsys_assets.training.plots import markdown_table
    from mlsys_assets.training.search import search

    settings = run_settings.resolve()
    training_set = _snapshot(warehouse)
    trials = settings.training.search_trials if config.trials is None else config.trials
    seed = settings.seed if config.seed is None else config.seed
    result = search(
        Matrices.of(
            training_set,
            settings.training.threads,
            max_train_rows=settings.training.search_max_rows,
            seed=seed,
        ),
        trials=trials,
        seed=seed,
        threads=settings.training.threads,
        timeout_seconds=settings.training.search_timeout_seconds,
    )
    context.log.info(f"best trial {result.best_trial}: auc {result.best_value:.4f}")
    history = markdown_table(result.history[["number", "value", "state"]])
    return dg.Output(
        {
            "params": result.best_params,
            "digest": training_set.digest,
            "history_csv": result.history.to_csv(index=False),
            **result.summary(),
        },
        metadata={
            **result.summary(),
            "best_params": result.best_params,
            "history": dg.MetadataValue.md(history),
        },
    )


@dg.asset(group_name=GROUP, kinds={"xgboost", "mlflow"})
def trained_model(
    context: dg.AssetExecutionContext,
    model_search: dict[str, Any],
    warehouse: Warehouse,
    tracking: Tracking,
    run_settings: RunSettings,
) -> dg.Output[dict[str, Any]]:
    """XGBoost with the best parameters and early stopping, logged to MLflow with its lineage."""
    mlflow = load("mlflow")

    from mlsys_assets.training.evaluate import validation_threshold
    from mlsys_assets.training.fit import default_params, fit_final
    from mlsys_assets.training.model_log import data_tags, log_model

    settings = run_settings.resolve()
    training_set = _snapshot(warehouse, model_search["digest"])
    params = model_search.get("params") or default_params(settings.seed, settings.training.threads)
    fit = fit_final(
        training_set,
        params,
        threads=settings.training.threads,
        refit=settings.training.refit_on_validation,
    )
    booster = fit.booster
    threshold = validation_threshold(
        fit.early_stopped, training_set, settings.training.threshold_min_precision
    )
    logged = log_model(
        tracking,
        training_set,
        None,
        booster,
        params=params,
        run_name=f"dagster-{context.run_id[:8]}",
    )
    with tracking.activated():
        mlflow.log_text(model_search["history_csv"], "search/trials.csv", run_id=logged.run_id)
    record = {
        "run_id": logged.run_id,
        "model_uri": logged.model_uri,
        "model_id": logged.model_id,
        "digest": training_set.digest,
        "tags": data_tags(training_set),
        "boosting_rounds": fit.rounds,
        "refit": fit.refit,
        "threshold": list(threshold),
    }
    return dg.Output(record, metadata={k: v for k, v in record.items() if k != "tags"})


@dg.asset(group_name=GROUP, kinds={"mlflow"})
def model_evaluation(
    context: dg.AssetExecutionContext,
    trained_model: dict[str, Any],
    warehouse: Warehouse,
    tracking: Tracking,
    run_settings: RunSettings,
) -> dg.Output[dict[str, Any]]:
    """Test-window metrics, calibration, segments, baselines, threshold, drift and plots."""
    from mlsys_assets.scoring.pyfunc_model import load_native_uri
    from mlsys_assets.training.evaluate import evaluate
    from mlsys_assets.training.model_log import LoggedModel, evaluation_tags, log_evaluation
    from mlsys_assets.training.plots import markdown_image, markdown_table

    settings = run_settings.resolve()
    training_set = _snapshot(warehouse, trained_model["digest"])
    with tracking.activated():
        booster, _ = load_native_uri(trained_model["model_uri"])
    threshold = trained_model["threshold"]
    evaluation = evaluate(
        booster,
        training_set,
        min_precision=settings.training.threshold_min_precision,
        threshold=(float(threshold[0]), str(threshold[1]), float(threshold[2])),
    )
    evaluation.metrics["boosting_rounds"] = float(trained_model["boosting_rounds"])
    log_evaluation(tracking, LoggedModel.of(trained_model), evaluation)
    context.log.info(
        f"test auc {evaluation.metrics['test_roc_auc']:.4f} vs baseline "
        f"{evaluation.metrics['baseline_carrier_hour_roc_auc']:.4f}"
    )
    metadata: dict[str, Any] = {k: float(v) for k, v in evaluation.metrics.items()}
    metadata["threshold_goal"] = evaluation.threshold_goal
    metadata["segments"] = dg.MetadataValue.md(markdown_table(evaluation.segments))
    metadata["drift"] = dg.MetadataValue.md(markdown_table(evaluation.drift))
    for name, png in evaluation.plots.items():
        metadata[f"plot_{name.removesuffix('.png')}"] = dg.MetadataValue.md(
            markdown_image(png, name)
        )
    record = {
        **trained_model,
        "metrics": evaluation.metrics,
        "tags": {**trained_model["tags"], **evaluation_tags(evaluation)},
    }
    return dg.Output(record, metadata=metadata)


ASSETS = [training_dataset, model_search, trained_model, model_evaluation]
