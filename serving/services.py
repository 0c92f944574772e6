"""Everything one app instance runs: started in the lifespan, stopped (and flushed) at shutdown."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from mlsys_assets.clock import serving_clock
from mlsys_assets.prediction_log_contract import (
    FEEDBACK_LOG_DIR,
    FEEDBACK_SCHEMA,
    PREDICTION_LOG_DIR,
    PREDICTION_SCHEMA,
    WAL_DIR,
)
from mlsys_assets.resources.backends import build_event_stream
from mlsys_assets.resources.event_stream import EventStream
from mlsys_assets.scoring.loading import RegistryReader
from mlsys_assets.scoring.rules import BusinessRule
from mlsys_assets.settings import Settings
from serving.batcher import MicroBatcher
from serving.decisions import DecisionPublisher
from serving.features import FeatureSource
from serving.metrics import ServingMetrics
from serving.models import ModelWatcher
from serving.pipeline import InferencePipeline
from serving.prediction_log import ParquetLog, flight_day
from serving.reload_broadcast import ReloadGeneration

logger = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    metrics: ServingMetrics
    watcher: ModelWatcher
    features: FeatureSource
    prediction_log: ParquetLog
    feedback_log: ParquetLog
    pipeline: InferencePipeline
    batcher: MicroBatcher
    decisions: DecisionPublisher | None = None

    @classmethod
    def start(
        cls, settings: Settings, rules: tuple[BusinessRule, ...], metrics: ServingMetrics
    ) -> Services:
        """Open the store and the logs, load the aliased models once, then start polling."""
        bound_registry_calls(settings)
        prediction_log = _log(settings, metrics, PREDICTION_LOG_DIR, "predictions")
        feedback_log = _log(settings, metrics, FEEDBACK_LOG_DIR, "feedback")
        watcher = ModelWatcher(
            RegistryReader(settings.tracking_uri, settings.registry.model_name),
            metrics,
            settings.serving.poll_seconds,
            baseline_cache=settings.home_dir / "serving" / "baseline.json",
            generation=ReloadGeneration(settings.home_dir / "serving" / "reload_generation"),
        )
        features = FeatureSource.from_settings(settings)
        decisions = _decisions(settings, metrics) if settings.serving.decisions else None
        pipeline = InferencePipeline(
            model_name=settings.registry.model_name,
            watcher=watcher,
            features=features,
            rules=rules,
            canary_share=settings.loop.canary_share,
            metrics=metrics,
            log=prediction_log,
            clock=serving_clock(settings),
            explain_top_k=settings.serving.explain_top_k,
            outputs=decisions,
            shadow=settings.loop.canary_shadow,
        )
        prediction_log.start()
        if decisions is not None:
            decisions.start()
        feedback_log.start()
        result = watcher.refresh()
        logger.info("initial model load: %s", result)
        watcher.start()
        return cls(
            settings,
            metrics,
            watcher,
            features,
            prediction_log,
            feedback_log,
            pipeline,
            MicroBatcher(pipeline),
            decisions,
        )

    def stop(self) -> None:
        """Stop polling and flush every buffered record (a graceful stop loses none)."""
        self.watcher.stop()
        if self.decisions is not None:
            self.decisions.close()
        if self.pipeline.shadow is not None:
            self.pipeline.shadow.close()  # its last rows into the prediction log first
        self.prediction_log.close()
        self.feedback_log.close()
        self.features.close()


def _decisions(settings: Settings, metrics: ServingMetrics) -> DecisionPublisher:
    """The outbound stream's publisher, on the event stream the settings name."""
    stream: EventStream = build_event_stream(settings)
    return DecisionPublisher(
        stream,
        on_published=metrics.decisions_published.inc,
        on_dropped=metrics.decisions_dropped.inc,
        groups=settings.serving.decisions_groups,
    )


def bound_registry_calls(settings: Settings) -> None:
    """Cap MLflow's HTTP retries: its default backoff blocks for minutes when the registry is down.

    MLflow reads these knobs only from the environment; an operator's own values win. Each must
    parse as the type MLflow declares (``mlflow/environment_variables.py``): the backoff factor is
    an *int* there, and "0.5" made every HTTP registry call raise before it was sent.
    """
    for name, value in (
        ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2"),
        ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1"),
        ("MLFLOW_HTTP_REQUEST_TIMEOUT", str(int(settings.serving.registry_timeout_seconds))),
        ("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false"),
    ):
        os.environ.setdefault(name, value)


def _log(settings: Settings, metrics: ServingMetrics, folder: str, label: str) -> ParquetLog:
    return ParquetLog(
        settings.predictions_dir / folder,
        PREDICTION_SCHEMA if label == "predictions" else FEEDBACK_SCHEMA,
        flush_rows=settings.serving.log_flush_rows,
        flush_seconds=settings.serving.log_flush_seconds,
        max_pending=settings.serving.log_max_pending,
        on_written=metrics.log_written.labels(log=label).inc,
        on_dropped=metrics.log_dropped.labels(log=label).inc,
        on_error=metrics.log_errors.labels(log=label).inc,
        partition_by=flight_day if label == "predictions" else None,
        wal_directory=settings.predictions_dir / WAL_DIR / folder,
        sync_seconds=settings.serving.log_sync_seconds,
    )
