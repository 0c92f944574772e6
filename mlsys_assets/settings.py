"""Typed settings: the one place where mlsys reads its environment.

Every backend choice and path lives here so that the embedded default (DuckDB, SQLite, files,
MLflow on SQLite) and the production backends (PostgreSQL, Redis, a tracking server) are one
environment variable apart, and nothing else in the code reads ``os.environ``.

The settings are grouped in sections, one per layer (``ingestion``, ``features``, ``training``,
``registry``, ``serving``, ``monitoring``, ``loop``, ``cost``) plus ``backends``: the external
systems and every secret. A section's variable is ``MLSYS_<SECTION>__<NAME>``
(``MLSYS_LOOP__CANARY_SHARE=0.2``). The layer sections are Dagster ``Config`` classes, so the
same typed objects are handed to assets and sensors as the ``run_settings`` resource
(``resources/run_settings.py``) and show in the launchpad, where a run can override them;
``backends`` never goes there, so no secret reaches run config. ``get_settings()`` is called at
process edges only: the CLI, the API's app factory and the code location's definitions.

The flat names of the previous release (``MLSYS_CANARY_SHARE``) still work for one release, with
a ``SettingsDeprecationWarning`` naming the new variable (``LEGACY_NAMES`` is the map).
"""

from __future__ import annotations

import datetime as dt
import os
import warnings
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import dagster as dg
import pydantic
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from mlsys_assets.config_errors import (
    ENV_PREFIX,
    ConfigurationError,
    check_home,
    env_name,
    explain,
    explain_parse_error,
    unknown_section_names,
)
from mlsys_assets.secrets import reveal

NESTED_DELIMITER = "__"  # MLSYS_<SECTION>__<NAME>


class SettingsDeprecationWarning(FutureWarning):
    """A setting was given by its flat name of the previous release (shown to users by default)."""


class IngestionSettings(dg.Config):
    """Ingestion: how long a command (`mlsys ingest`, ...) waits for a busy pool slot or run."""

    run_wait_timeout_seconds: float = Field(default=600.0, gt=0)


class FeatureSettings(dg.Config):
    """The feature store: the service new models train on, and the stream processor's pace."""

    # The feature service new models train on (flights_v2 adds today's intraday features).
    service: Literal["flights_v1", "flights_v2"] = "flights_v2"
    # The stream processor (`mlsys stream`): the longest it waits when idle (the file stream
    # wakes it on each append; Redis is polled at this interval), and the most events it takes
    # per batch (one online-store transaction each).
    stream_poll_seconds: float = Field(default=0.05, gt=0)
    stream_batch_events: int = Field(default=5_000, ge=1)
    # Retention of the topics it reads: every stream_trim_seconds it removes the events that
    # its own group and the groups named here for the topic (ingestion's cursor on weather and
    # departures) have acknowledged, but the newest stream_keep_events (a restart re-reads them).
    stream_retention: bool = True
    stream_retention_groups: dict[str, list[str]] = Field(
        default_factory=lambda: {"weather": ["mlsys-ingestion"], "departures": ["mlsys-ingestion"]}
    )
    stream_keep_events: int = Field(default=20_000, ge=0)
    stream_trim_seconds: float = Field(default=60.0, gt=0)


class TrainingSettings(dg.Config):
    """Training: the temporal split, the search, the fit and the decision threshold.

    The window ends at the cut-off (None: the latest labelled day); the last test_days are the
    test window, the window_days before it (minus the gaps) train and validation. Gaps keep a
    feature window from straddling two splits.
    """

    cutoff: str | None = Field(default=None, description="YYYY-MM-DD; unset: latest labelled day")
    window_days: int = Field(default=120, ge=14)
    validation_days: int = Field(default=21, ge=1)
    test_days: int = Field(default=14, ge=1)
    split_gap_days: int = Field(default=1, ge=0)
    cancelled_policy: Literal["exclude", "delayed"] = "exclude"
    sampling: Literal["none", "downsample"] = "none"  # downsample: negatives of train, reweighted
    sampling_negative_rate: float = Field(default=1.0, gt=0.0, le=1.0)
    search_trials: int = Field(default=20, ge=1)
    search_timeout_seconds: float = Field(default=600.0, gt=0)
    search_max_rows: int = Field(default=60_000, ge=1_000)  # search on a sample; fit on all
    refit_on_validation: bool = True  # final model: train+validation, early-stopped rounds
    threads: int = Field(default=1, ge=1)  # 1: fastest on a shared, busy machine
    threshold_min_precision: float = Field(default=0.5, gt=0.0, lt=1.0)

    @field_validator("cutoff")
    @classmethod
    def _iso_day(cls, value: str | None) -> str | None:
        # Dagster config has no date type: the day travels as text, checked here.
        return None if value is None else dt.date.fromisoformat(value).isoformat()

    @property
    def cutoff_day(self) -> dt.date | None:
        return None if self.cutoff is None else dt.date.fromisoformat(self.cutoff)


class RegistrySettings(dg.Config):
    """The registry: the model's name and the quality gate a new version must pass."""

    model_name: str = "flight_delay"
    # Quality gate: absolute floors, and at most this much worse than the champion's ROC AUC.
    gate_min_roc_auc: float = Field(default=0.60, ge=0.5, le=1.0)
    gate_min_pr_lift: float = Field(default=1.2, ge=1.0)  # PR AUC >= lift x the delay rate
    gate_margin: float = Field(default=0.005, ge=0.0)


class ServingSettings(dg.Config):
    """Online serving (`mlsys serve`) and batch scoring."""

    # Serving's "now": the wall clock in production; in a replayed world (a replay clock exists
    # under landing/) the simulated now, so a request is answered as of its simulated moment.
    clock: Literal["auto", "wall", "replay"] = "auto"
    poll_seconds: float = Field(default=30.0, gt=0, description="Registry alias poll.")
    registry_timeout_seconds: float = Field(default=5.0, gt=0)
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="Else 413.")
    # How long an idle HTTP connection stays open. Longer than a client's or a load balancer's
    # own idle limit (httpx 5 s, AWS ALB 60 s), so they drop it first: with uvicorn's default
    # (5 s, equal to httpx's) a request sent just as the server closed got no answer at all.
    keep_alive_seconds: int = Field(default=75, ge=1)
    log_flush_rows: int = Field(default=5_000, ge=1)
    log_flush_seconds: float = Field(default=5.0, gt=0)
    # The crash loss window: queued records reach an fsynced write-ahead file this often, and a
    # kill -9 loses at most this much of answered predictions and feedback (serving/wal.py).
    log_sync_seconds: float = Field(default=1.0, gt=0)
    log_max_pending: int = Field(default=200_000, ge=1, description="Then drop.")
    # Business rules after the threshold, first match wins (see mlsys_assets/scoring/rules.py).
    rules: list[dict[str, Any]] = Field(default_factory=list)
    # Open Inference Protocol v2 over gRPC beside HTTP (0 turns it off; REST /v2 is always on),
    # explanations (top-k TreeSHAP contributions per answer when asked), and the outbound
    # `decisions` stream every answer is published on (its lag per consumer group in /metrics).
    grpc_port: int = Field(default=8081, ge=0, le=65535, description="0: no gRPC.")
    grpc_host: str = "127.0.0.1"  # `mlsys serve --host` sets it to the HTTP host
    explain_top_k: int = Field(default=5, ge=1, le=200)
    decisions: bool = True
    decisions_groups: list[str] = Field(
        default_factory=lambda: ["downstream"], description="Consumer groups whose lag is shown."
    )
    # Batch scoring: in-process on DuckDB's frames, or through mlflow.pyfunc.spark_udf on Spark
    # (`pip install mlsys[spark]`; local mode by default, a cluster's master URL in prod).
    batch_engine: Literal["duckdb", "spark"] = "duckdb"
    spark_master: str = "local[2]"


class MonitoringSettings(dg.Config):
    """Monitoring: a check warns past ``*_warn`` and fails with ERROR past ``*_error``."""

    reference_rows: int = Field(default=5_000, ge=100)
    calibration_days: int = Field(default=12, ge=2)
    reference_window: str | None = Field(
        default=None, description="YYYY-MM-DD/YYYY-MM-DD reference when there is no champion."
    )
    report_max_columns: int = Field(default=12, ge=1)  # Evidently renders ~0.2 s each
    missing_warn: float = Field(default=0.05, ge=0.0, le=1.0)  # excess over reference
    missing_error: float = Field(default=0.25, ge=0.0, le=1.0)
    range_warn: float = Field(default=0.0, ge=0.0, le=1.0)  # share out of range
    range_error: float = Field(default=0.01, ge=0.0, le=1.0)
    new_category_warn: float = Field(default=0.0, ge=0.0, le=1.0)  # share of rows
    new_category_error: float = Field(default=0.05, ge=0.0, le=1.0)
    volume_warn: float = Field(default=0.2, ge=0.0)  # |actual/expected - 1|
    volume_error: float = Field(default=0.5, ge=0.0)
    drift_share_warn: float = Field(default=0.2, ge=0.0, le=1.0)
    drift_share_error: float = Field(default=0.4, ge=0.0, le=1.0)
    skew_warn: float = Field(default=0.0, ge=0.0, le=1.0)  # mismatch rate
    skew_error: float = Field(default=0.01, ge=0.0, le=1.0)
    # Live traffic missing a feature more often than training did (excess share of requests).
    live_missing_warn: float = Field(default=0.02, ge=0.0, le=1.0)
    live_missing_error: float = Field(default=0.10, ge=0.0, le=1.0)
    # Every day is monitored; a run starts once this many days wait, and covers all of them
    # (one run over the range: the demo batches a week per run to fit its budget).
    every_days: int = Field(default=1, ge=1)
    min_labelled: int = Field(default=30, ge=1)
    latency_p95_ms: float = Field(default=50.0, gt=0)
    fallback_rate_warn: float = Field(default=0.05, ge=0.0, le=1.0)
    # The Evidently HTML report (about 2 s a day) for the last N days of a run only (drift is
    # scored every day regardless); unset: every day. The demo draws the newest day's.
    report_last_days: int | None = Field(default=None, ge=1)
    # "Near the threshold": a score within this distance of the decision threshold.
    confidence_band: float = Field(default=0.05, gt=0.0, lt=0.5)
    # Serving objectives: share of successful answers, p99 latency, over a rolling window.
    slo_availability: float = Field(default=0.999, gt=0.0, lt=1.0)
    slo_latency_p99_ms: float = Field(default=100.0, gt=0)
    slo_window_days: int = Field(default=28, ge=1)
    # Segments (carrier, origin, departure-hour band): a segment is tested only with this many
    # flights (labelled ones for the calibration test); z-scores are widened by their
    # dispersion over the last history_days (min_tests z-scores at least); significant when the
    # Holm-corrected p-value is below alpha AND the effect is at least min_effect; flagged
    # when significant persist_days days in a row (see monitoring/segments.py).
    segment_min_rows: int = Field(default=100, ge=10)
    segment_min_labelled: int = Field(default=80, ge=10)
    segment_min_tests: int = Field(default=10, ge=3)
    segment_history_days: int = Field(default=28, ge=1)
    segment_alpha: float = Field(default=0.01, gt=0.0, lt=1.0)
    segment_min_effect: float = Field(default=0.10, ge=0.0, le=1.0)
    segment_persist_days: int = Field(default=2, ge=1)
    # Alerts go to backends.alert_webhook_url (a secret); only this severity and above go out.
    alert_min_severity: Literal["warn", "error"] = "warn"
    alert_timeout_seconds: float = Field(default=5.0, gt=0)
    # The report server started with the UIs; Dagster metadata links to reports under this URL.
    reports_host: str = "127.0.0.1"
    reports_port: int = Field(default=8090, ge=1, le=65535)

    @property
    def reports_url(self) -> str:
        """Where the report server serves the reports (the links in Dagster's metadata)."""
        return f"http://{self.reports_host}:{self.reports_port}"


class LoopSettings(dg.Config):
    """The retraining loop: what makes the sensors retrain, and the canary's rule."""

    retrain_drift_share: float = Field(default=0.4, ge=0.0, le=1.0)
    retrain_min_new_labels: int = Field(default=20_000, ge=1)
    retrain_cooldown_days: int = Field(default=7, ge=0)
    # How often the Dagster daemon evaluates the sensors (`mlsys daemon`; Dagster's own is 5 s):
    # each hop of the loop waits up to this long. A replayed world playing days in seconds
    # (the demo) sets 1.
    sensor_loop_seconds: float = Field(default=5.0, gt=0.0, le=60.0)
    canary_share: float = Field(default=0.1, ge=0.0, le=1.0)
    canary_min_labelled: int = Field(default=300, ge=1)
    canary_margin: float = Field(default=0.0, ge=0.0)  # challenger may be this much worse (AUC)
    # The paired canary verdict (registry/verdict.py): serving scores every champion-answered
    # request with the challenger too (logged as variant "shadow", never returned); the verdict
    # is a sequential test on those pairs (a confidence sequence on the log-loss difference,
    # looked at after each day's labels): error rate alpha over all looks, no promotion for an
    # AUC difference below -margin, looks from canary_min_labelled pairs up to the maximum wait.
    # "unpaired" keeps the previous rule (each variant's own traffic share).
    canary_shadow: bool = True
    canary_rule: Literal["paired", "unpaired"] = "paired"
    canary_verdict_alpha: float = Field(default=0.05, gt=0.0, lt=1.0)
    canary_verdict_margin: float = Field(default=0.005, ge=0.0, le=1.0)
    canary_max_labelled: int = Field(default=9600, ge=1)


class CostSettings(dg.Config):
    """Business cost of each kind of error, in the user's units (see business_cost.py)."""

    missed_delay: float = Field(default=50.0, ge=0.0)
    false_alarm: float = Field(default=10.0, ge=0.0)


class BackendSettings(dg.Config):
    """The external systems and every secret: never handed to run config (see module doc)."""

    # Source database written by the producers: SQLite file by default, PostgreSQL in prod.
    source_db_url: SecretStr | None = None  # may hold a password: see secrets.py
    # Event streams (weather, departures, decisions): an append-only log of files by default,
    # Redis Streams in prod.
    event_stream: Literal["file", "redis"] = "file"
    online_store: Literal["sqlite", "redis"] = "sqlite"
    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    redis_prefix: str = Field(default="mlsys:", description="Namespace of mlsys's Redis keys.")
    # Dagster's instance storage (runs, event log, schedules): SQLite under dagster_home by
    # default; a postgresql:// URL writes `storage: postgres:` into dagster.yaml.
    dagster_pg_url: SecretStr | None = None
    # How long a warehouse connection waits for another process's DuckDB lock before failing
    # with a clear message (readers hold theirs for a query only: see resources/warehouse.py).
    warehouse_lock_timeout_seconds: float = Field(default=120.0, gt=0)
    # MLflow: SQLite registry and local artifacts by default, a tracking server URI in prod.
    mlflow_tracking_uri: SecretStr | None = None
    # The API's admin endpoints (reload, rollback) need this bearer token.
    admin_token: SecretStr | None = None
    # Alerts: a webhook receiving a Slack-compatible JSON body ({"text": ...}); unset: alerts
    # are only recorded (MLSYS_HOME/alerts/alerts.sqlite). A Slack hook URL is a secret.
    alert_webhook_url: SecretStr | None = None


SECTIONS: dict[str, type[dg.Config]] = {
    "ingestion": IngestionSettings,
    "features": FeatureSettings,
    "training": TrainingSettings,
    "registry": RegistrySettings,
    "serving": ServingSettings,
    "monitoring": MonitoringSettings,
    "loop": LoopSettings,
    "cost": CostSettings,
    "backends": BackendSettings,
}

# The previous release's flat names (MLSYS_<OLD>) and where each lives now.
LEGACY_NAMES: dict[str, tuple[str, str]] = {
    **{
        old: ("backends", old)
        for old in (
            "source_db_url",
            "event_stream",
            "online_store",
            "redis_url",
            "redis_prefix",
            "dagster_pg_url",
            "warehouse_lock_timeout_seconds",
            "mlflow_tracking_uri",
            "admin_token",
            "alert_webhook_url",
        )
    },
    "run_wait_timeout_seconds": ("ingestion", "run_wait_timeout_seconds"),
    "feature_service": ("features", "service"),
    "stream_poll_seconds": ("features", "stream_poll_seconds"),
    "stream_batch_events": ("features", "stream_batch_events"),
    "training_cutoff": ("training", "cutoff"),
    "training_window_days": ("training", "window_days"),
    "train_threads": ("training", "threads"),
    **{
        old: ("training", old)
        for old in (
            "validation_days",
            "test_days",
            "split_gap_days",
            "cancelled_policy",
            "sampling",
            "sampling_negative_rate",
            "search_trials",
            "search_timeout_seconds",
            "search_max_rows",
            "refit_on_validation",
            "threshold_min_precision",
        )
    },
    **{
        old: ("registry", old)
        for old in ("model_name", "gate_min_roc_auc", "gate_min_pr_lift", "gate_margin")
    },
    **{
        f"serving_{new}": ("serving", new)
        for new in (
            "clock",
            "poll_seconds",
            "registry_timeout_seconds",
            "max_body_bytes",
            "rules",
            "grpc_port",
            "grpc_host",
            "explain_top_k",
            "decisions",
            "decisions_groups",
        )
    },
    **{
        f"prediction_{new}": ("serving", new)
        for new in ("log_flush_rows", "log_flush_seconds", "log_sync_seconds", "log_max_pending")
    },
    "batch_scoring_engine": ("serving", "batch_engine"),
    "spark_master": ("serving", "spark_master"),
    **{
        f"monitoring_{new}": ("monitoring", new)
        for new in MonitoringSettings.model_fields
        if not new.startswith(("slo_", "alert_", "reports_"))
    },
    **{
        old: ("monitoring", old)
        for old in MonitoringSettings.model_fields
        if old.startswith(("slo_", "alert_", "reports_"))
    },
    **{old: ("loop", old) for old in LoopSettings.model_fields},
    "cost_missed_delay": ("cost", "missed_delay"),
    "cost_false_alarm": ("cost", "false_alarm"),
}


class _LegacyEnvironment(PydanticBaseSettingsSource):
    """The flat ``MLSYS_<OLD>`` variables (environment, then ``.env``), as flat keys.

    ``Settings._nest_legacy_names`` moves them into their sections, below the new names.
    """

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads the whole map at once

    def __call__(self) -> dict[str, Any]:
        given = _given_variables(self.settings_cls.model_config.get("env_file"))
        found: dict[str, Any] = {}
        for old in LEGACY_NAMES:
            value = given.get(ENV_PREFIX + old.upper())
            if value not in (None, ""):
                found[old] = value
        return found


def _given_variables(env_file: object) -> dict[str, str | None]:
    """The variables settings are read from: ``.env`` (if the file exists) under the
    environment, which wins, as it does for pydantic-settings' own sources."""
    from dotenv import dotenv_values

    path = Path(str(env_file or ""))
    dotenv = dotenv_values(path) if env_file and path.is_file() else {}
    return {**dotenv, **os.environ}


class LayerSettings(pydantic.BaseModel):
    """Every layer's section and the seed: what a run may change. ``Settings`` adds the
    process's own (home, profile, backends); the ``run_settings`` resource carries these."""

    # Random seed shared by replay faults, sampling and search.
    seed: int = 42
    ingestion: IngestionSettings = IngestionSettings()
    features: FeatureSettings = FeatureSettings()
    training: TrainingSettings = TrainingSettings()
    registry: RegistrySettings = RegistrySettings()
    serving: ServingSettings = ServingSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    loop: LoopSettings = LoopSettings()
    cost: CostSettings = CostSettings()


LAYER_SECTIONS = tuple(name for name in LayerSettings.model_fields if name != "seed")


class Settings(BaseSettings, LayerSettings):
    """All of mlsys's configuration, read from ``MLSYS_*`` variables (and ``.env``)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=NESTED_DELIMITER,
        env_file=".env",
        env_ignore_empty=True,
        extra="ignore",
    )

    profile: Literal["local", "prod"] = "local"
    home: Path = Field(default=Path(".mlsys"), description="Root of all local state.")
    backends: BackendSettings = BackendSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Before ``.env``: that source also hands on its unknown prefixed names, flat old ones
        # included, and would beat the same old name set in the environment.
        legacy = _LegacyEnvironment(settings_cls)
        return init_settings, env_settings, legacy, dotenv_settings, file_secret_settings

    @model_validator(mode="before")
    @classmethod
    def _nest_legacy_names(cls, data: Any) -> Any:
        """Move flat names of the previous release into their sections, with a warning.

        A value given by the new name wins over the same setting's flat name.
        """
        if not isinstance(data, dict):
            return data
        flat = [key for key in data if key in LEGACY_NAMES]
        if not flat:
            return data
        data = dict(data)
        for old in flat:
            section, name = LEGACY_NAMES[old]
            current = data.get(section)
            if isinstance(current, dg.Config):
                current = current.model_dump()
            nested = dict(current) if isinstance(current, Mapping) else {}
            nested.setdefault(name, data.pop(old))
            data[section] = nested
        renames = ", ".join(
            f"{ENV_PREFIX}{o.upper()} -> {env_name(*LEGACY_NAMES[o])}" for o in flat
        )
        # Attributed to the settings, not to pydantic's internals: the line a person reads.
        warnings.warn_explicit(
            f"flat setting names are deprecated and go in the next release: {renames}",
            SettingsDeprecationWarning,
            filename="mlsys settings",
            lineno=0,
        )
        return data

    @model_validator(mode="after")
    def _prod_needs_real_backends(self) -> Settings:
        if self.profile == "prod":
            b = self.backends
            missing = [
                env_name("backends", name)
                for name, value in (
                    ("source_db_url", b.source_db_url),
                    ("mlflow_tracking_uri", b.mlflow_tracking_uri),
                    ("admin_token", b.admin_token),
                )
                if not value
            ]
            if missing:
                raise ValueError(f"MLSYS_PROFILE=prod needs {', '.join(missing)} to be set")
        return self

    def replace(self, **changes: Any) -> Settings:
        """A copy with top-level fields replaced and sections updated by a mapping each:
        ``settings.replace(loop={"canary_share": 0.0}, home=path)``. Values are validated."""
        update: dict[str, Any] = {}
        for key, value in changes.items():
            if key in SECTIONS:
                section = getattr(self, key)
                update[key] = type(section).model_validate({**section.model_dump(), **value})
            elif key in type(self).model_fields:
                update[key] = value
            else:
                raise KeyError(f"no setting {key!r} (sections: {', '.join(SECTIONS)})")
        return self.model_copy(update=update)

    # Derived locations under MLSYS_HOME (docs/architecture.md "Where state lives").
    @property
    def home_dir(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def landing_dir(self) -> Path:
        return self.home_dir / "landing"

    @property
    def warehouse_path(self) -> Path:
        return self.home_dir / "warehouse.duckdb"

    @property
    def online_store_path(self) -> Path:
        return self.home_dir / "online.sqlite"

    @property
    def predictions_dir(self) -> Path:
        return self.home_dir / "predictions"

    @property
    def reports_dir(self) -> Path:
        return self.home_dir / "reports"

    @property
    def reports_url(self) -> str:
        """Where the report server serves ``reports_dir`` (the links in Dagster's metadata)."""
        return self.monitoring.reports_url

    @property
    def dagster_home(self) -> Path:
        return self.home_dir / "dagster_home"

    @property
    def mlflow_dir(self) -> Path:
        return self.home_dir / "mlflow"

    # The secret settings in plain text, for the code that connects with them. Anything shown to
    # a person (errors, logs, metadata, command lines) goes through secrets.redact_url first.
    @property
    def source_db(self) -> str:
        return reveal(self.backends.source_db_url) or f"sqlite:///{self.home_dir / 'source.sqlite'}"

    @property
    def tracking_uri(self) -> str:
        default = f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"
        return reveal(self.backends.mlflow_tracking_uri) or default

    @property
    def redis(self) -> str:
        return self.backends.redis_url.get_secret_value()

    @property
    def dagster_pg(self) -> str | None:
        return reveal(self.backends.dagster_pg_url)

    @property
    def admin_secret(self) -> str | None:
        return reveal(self.backends.admin_token)

    @property
    def alert_webhook(self) -> str | None:
        return reveal(self.backends.alert_webhook_url)

    @property
    def artifact_root(self) -> str:
        return (self.mlflow_dir / "artifacts").as_uri()


_SECTION_FIELDS = {name: list(section.model_fields) for name, section in SECTIONS.items()}


def _given_names() -> list[str]:
    """Every variable name the settings are read from: the environment and ``.env``."""
    return list(_given_variables(Settings.model_config.get("env_file")))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; cached so that importing a module does no I/O.

    Called at process edges only (CLI, app factory, definitions); assets and sensors get theirs
    from the ``run_settings`` resource. A wrong setting or an unusable ``MLSYS_HOME`` raises
    ``ConfigurationError``, whose message is one line naming the variable (the CLI prints it
    and exits 2, no traceback).
    """
    unknown = unknown_section_names(_given_names(), _SECTION_FIELDS)
    if unknown:
        raise ConfigurationError(unknown)
    try:
        settings = Settings()
    except ValidationError as exc:
        raise explain(exc, Settings.model_fields) from None
    except SettingsError as exc:
        raise explain_parse_error(exc) from None
    check_home(settings.home)
    return settings
