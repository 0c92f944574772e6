"""Typed settings: the one place where mlsys reads its environment.

Every backend choice and path lives here so that the embedded default (DuckDB, SQLite, files,
MLflow on SQLite) and the production backends (PostgreSQL, Redis, a tracking server) are one
environment variable apart, and nothing else in the code reads ``os.environ``.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from mlsys_assets.config_errors import check_home, explain, explain_parse_error
from mlsys_assets.secrets import reveal


class Settings(BaseSettings):
    """All of mlsys's configuration, read from ``MLSYS_*`` variables (and ``.env``)."""

    model_config = SettingsConfigDict(
        env_prefix="MLSYS_", env_file=".env", env_ignore_empty=True, extra="ignore"
    )

    profile: Literal["local", "prod"] = "local"
    home: Path = Field(default=Path(".mlsys"), description="Root of all local state.")

    # Source database written by the producers: SQLite file by default, PostgreSQL in prod.
    source_db_url: SecretStr | None = None  # may hold a password: see secrets.py
    # Weather event stream: an append-only log of files by default, Redis Streams in prod.
    event_stream: Literal["file", "redis"] = "file"
    # Online feature store backend.
    online_store: Literal["sqlite", "redis"] = "sqlite"
    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    redis_prefix: str = Field(default="mlsys:", description="Namespace of mlsys's Redis keys.")
    # The stream processor (`mlsys stream`): how often it polls the stream when idle, and the
    # most events it takes per batch (one online-store transaction each).
    stream_poll_seconds: float = Field(default=0.05, gt=0)
    stream_batch_events: int = Field(default=5_000, ge=1)
    # Serving's "now": the wall clock in production; in a replayed world (a replay clock exists
    # under landing/) the simulated now, so a request is answered as of its simulated moment.
    serving_clock: Literal["auto", "wall", "replay"] = "auto"
    # Dagster's instance storage (runs, event log, schedules): SQLite under dagster_home by
    # default; a postgresql:// URL writes `storage: postgres:` into dagster.yaml.
    dagster_pg_url: SecretStr | None = None
    # How long a command (`mlsys ingest`, ...) waits for a busy pool slot or a run, then gives up.
    run_wait_timeout_seconds: float = Field(default=600.0, gt=0)
    # How long a warehouse connection waits for another process's DuckDB lock before failing
    # with a clear message (readers hold theirs for a query only: see resources/warehouse.py).
    warehouse_lock_timeout_seconds: float = Field(default=120.0, gt=0)

    # MLflow: SQLite registry and local artifacts by default, a tracking server URI in prod.
    mlflow_tracking_uri: SecretStr | None = None
    model_name: str = "flight_delay"

    # Serving.
    admin_token: SecretStr | None = None
    canary_share: float = Field(default=0.1, ge=0.0, le=1.0)
    serving_poll_seconds: float = Field(default=30.0, gt=0, description="Registry alias poll.")
    serving_registry_timeout_seconds: float = Field(default=5.0, gt=0)
    serving_max_body_bytes: int = Field(default=1_048_576, ge=1024, description="Else 413.")
    prediction_log_flush_rows: int = Field(default=5_000, ge=1)
    prediction_log_flush_seconds: float = Field(default=5.0, gt=0)
    # The crash loss window: queued records reach an fsynced write-ahead file this often, and a
    # kill -9 loses at most this much of answered predictions and feedback (serving/wal.py).
    prediction_log_sync_seconds: float = Field(default=1.0, gt=0)
    prediction_log_max_pending: int = Field(default=200_000, ge=1, description="Then drop.")
    # Business rules after the threshold, first match wins (see mlsys_assets/scoring/rules.py).
    serving_rules: list[dict[str, Any]] = Field(default_factory=list)
    # Open Inference Protocol v2 over gRPC beside HTTP (0 turns it off; REST /v2 is always on),
    # explanations (top-k TreeSHAP contributions per answer when asked), and the outbound
    # `decisions` stream every answer is published on (its lag per consumer group in /metrics).
    serving_grpc_port: int = Field(default=8081, ge=0, le=65535, description="0: no gRPC.")
    serving_grpc_host: str = "127.0.0.1"  # `mlsys serve --host` sets it to the HTTP host
    serving_explain_top_k: int = Field(default=5, ge=1, le=200)
    serving_decisions: bool = True
    serving_decisions_groups: list[str] = Field(
        default_factory=lambda: ["downstream"], description="Consumer groups whose lag is shown."
    )
    # Batch scoring (issue 8): in-process on DuckDB's frames, or through mlflow.pyfunc.spark_udf
    # on Spark (`pip install mlsys[spark]`; local mode by default, a cluster's master URL in prod).
    batch_scoring_engine: Literal["duckdb", "spark"] = "duckdb"
    spark_master: str = "local[2]"

    # Random seed shared by replay faults, sampling and search.
    seed: int = 42

    # Training (issue 4): the window ends at the cut-off (None: the latest labelled day); the
    # last test_days are the test window, the training_window_days before it (minus the gaps)
    # train and validation. Gaps keep a feature window from straddling two splits.
    training_cutoff: date | None = None
    # The feature service new models train on (flights_v2 adds today's intraday features).
    feature_service: Literal["flights_v1", "flights_v2"] = "flights_v2"
    training_window_days: int = Field(default=120, ge=14)
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
    train_threads: int = Field(default=1, ge=1)  # 1: fastest on a shared, busy machine
    threshold_min_precision: float = Field(default=0.5, gt=0.0, lt=1.0)
    # Quality gate: absolute floors, and at most this much worse than the champion's ROC AUC.
    gate_min_roc_auc: float = Field(default=0.60, ge=0.5, le=1.0)
    gate_min_pr_lift: float = Field(default=1.2, ge=1.0)  # PR AUC >= lift x the delay rate
    gate_margin: float = Field(default=0.005, ge=0.0)

    # Monitoring (issue 6): a check warns past *_warn and fails with ERROR past *_error.
    monitoring_reference_rows: int = Field(default=5_000, ge=100)
    monitoring_calibration_days: int = Field(default=12, ge=2)
    monitoring_reference_window: str | None = Field(
        default=None, description="YYYY-MM-DD/YYYY-MM-DD reference when there is no champion."
    )
    monitoring_report_max_columns: int = Field(default=12, ge=1)  # Evidently renders ~0.2 s each
    monitoring_missing_warn: float = Field(default=0.05, ge=0.0, le=1.0)  # excess over reference
    monitoring_missing_error: float = Field(default=0.25, ge=0.0, le=1.0)
    monitoring_range_warn: float = Field(default=0.0, ge=0.0, le=1.0)  # share out of range
    monitoring_range_error: float = Field(default=0.01, ge=0.0, le=1.0)
    monitoring_new_category_warn: float = Field(default=0.0, ge=0.0, le=1.0)  # share of rows
    monitoring_new_category_error: float = Field(default=0.05, ge=0.0, le=1.0)
    monitoring_volume_warn: float = Field(default=0.2, ge=0.0)  # |actual/expected - 1|
    monitoring_volume_error: float = Field(default=0.5, ge=0.0)
    monitoring_drift_share_warn: float = Field(default=0.2, ge=0.0, le=1.0)
    monitoring_drift_share_error: float = Field(default=0.4, ge=0.0, le=1.0)
    monitoring_skew_warn: float = Field(default=0.0, ge=0.0, le=1.0)  # mismatch rate
    monitoring_skew_error: float = Field(default=0.01, ge=0.0, le=1.0)
    # Live traffic missing a feature more often than training did (excess share of requests).
    monitoring_live_missing_warn: float = Field(default=0.02, ge=0.0, le=1.0)
    monitoring_live_missing_error: float = Field(default=0.10, ge=0.0, le=1.0)
    # Every day is monitored; a run starts once this many days wait, and covers all of them
    # (one run over the range: the demo batches a week per run to fit its budget).
    monitoring_every_days: int = Field(default=1, ge=1)
    monitoring_min_labelled: int = Field(default=30, ge=1)
    monitoring_latency_p95_ms: float = Field(default=50.0, gt=0)
    monitoring_fallback_rate_warn: float = Field(default=0.05, ge=0.0, le=1.0)
    # Issue 17: confidence, serving objectives, segments, alerts and the report server.
    # The Evidently HTML report (about 2 s a day) for the last N days of a run only (drift is
    # scored every day regardless); unset: every day. The demo draws the newest day's.
    monitoring_report_last_days: int | None = Field(default=None, ge=1)
    # "Near the threshold": a score within this distance of the decision threshold.
    monitoring_confidence_band: float = Field(default=0.05, gt=0.0, lt=0.5)
    # Serving objectives: share of successful answers, p99 latency, over a rolling window.
    slo_availability: float = Field(default=0.999, gt=0.0, lt=1.0)
    slo_latency_p99_ms: float = Field(default=100.0, gt=0)
    slo_window_days: int = Field(default=28, ge=1)
    # Segments (carrier, origin, departure-hour band): a segment is tested only with this many
    # flights (labelled ones for the calibration test); z-scores are widened by their
    # dispersion over the last history_days (min_tests z-scores at least); significant when the
    # Holm-corrected p-value is below alpha AND the effect is at least min_effect; flagged
    # when significant persist_days days in a row (see monitoring/segments.py).
    monitoring_segment_min_rows: int = Field(default=100, ge=10)
    monitoring_segment_min_labelled: int = Field(default=80, ge=10)
    monitoring_segment_min_tests: int = Field(default=10, ge=3)
    monitoring_segment_history_days: int = Field(default=28, ge=1)
    monitoring_segment_alpha: float = Field(default=0.01, gt=0.0, lt=1.0)
    monitoring_segment_min_effect: float = Field(default=0.10, ge=0.0, le=1.0)
    monitoring_segment_persist_days: int = Field(default=2, ge=1)
    # Alerts: a webhook receiving a Slack-compatible JSON body ({"text": ...}); unset: alerts
    # are only recorded (MLSYS_HOME/alerts/alerts.sqlite). Only this severity and above go out.
    alert_webhook_url: SecretStr | None = None  # a Slack hook URL is a secret
    alert_min_severity: Literal["warn", "error"] = "warn"
    alert_timeout_seconds: float = Field(default=5.0, gt=0)
    # The report server started with the UIs; Dagster metadata links to reports under this URL.
    reports_host: str = "127.0.0.1"
    reports_port: int = Field(default=8090, ge=1, le=65535)

    # Retraining loop (issue 7): what makes the sensors launch a retrain, and the canary rule.
    retrain_drift_share: float = Field(default=0.4, ge=0.0, le=1.0)
    retrain_min_new_labels: int = Field(default=20_000, ge=1)
    retrain_cooldown_days: int = Field(default=7, ge=0)
    # How often the Dagster daemon evaluates the sensors (`mlsys daemon`; Dagster's own is 5 s):
    # each hop of the loop waits up to this long. A replayed world playing days in seconds
    # (the demo) sets 1.
    sensor_loop_seconds: float = Field(default=5.0, gt=0.0, le=60.0)
    canary_min_labelled: int = Field(default=300, ge=1)
    canary_margin: float = Field(default=0.0, ge=0.0)  # challenger may be this much worse (AUC)
    # The paired canary verdict (issue 16, registry/verdict.py): serving scores every champion-answered
    # request with the challenger too (logged as variant "shadow", never returned); the verdict is
    # a sequential test on those pairs: error rate alpha over all looks, no promotion or rollback
    # for an AUC difference inside the margin, looks doubling from canary_min_labelled pairs up to
    # the maximum wait. "unpaired" keeps the previous rule (each variant's own traffic share).
    canary_shadow: bool = True
    canary_rule: Literal["paired", "unpaired"] = "paired"
    canary_verdict_alpha: float = Field(default=0.05, gt=0.0, lt=1.0)
    canary_verdict_margin: float = Field(default=0.005, ge=0.0, le=1.0)
    canary_max_labelled: int = Field(default=9600, ge=1)

    # Business cost of each kind of error, in the user's units (see business_cost.py).
    cost_missed_delay: float = Field(default=50.0, ge=0.0)
    cost_false_alarm: float = Field(default=10.0, ge=0.0)

    @model_validator(mode="after")
    def _prod_needs_real_backends(self) -> Settings:
        if self.profile == "prod":
            missing = [
                name
                for name, value in (
                    ("MLSYS_SOURCE_DB_URL", self.source_db_url),
                    ("MLSYS_MLFLOW_TRACKING_URI", self.mlflow_tracking_uri),
                    ("MLSYS_ADMIN_TOKEN", self.admin_token),
                )
                if not value
            ]
            if missing:
                raise ValueError(f"MLSYS_PROFILE=prod needs {', '.join(missing)} to be set")
        return self

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
        return f"http://{self.reports_host}:{self.reports_port}"

    @property
    def alert_webhook(self) -> str | None:
        return reveal(self.alert_webhook_url)

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
        return reveal(self.source_db_url) or f"sqlite:///{self.home_dir / 'source.sqlite'}"

    @property
    def tracking_uri(self) -> str:
        return reveal(self.mlflow_tracking_uri) or f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"

    @property
    def redis(self) -> str:
        return self.redis_url.get_secret_value()

    @property
    def dagster_pg(self) -> str | None:
        return reveal(self.dagster_pg_url)

    @property
    def admin_secret(self) -> str | None:
        return reveal(self.admin_token)

    @property
    def artifact_root(self) -> str:
        return (self.mlflow_dir / "artifacts").as_uri()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; cached so that importing a module does no I/O.

    A wrong setting or an unusable ``MLSYS_HOME`` raises ``ConfigurationError``, whose message
    is one line naming the variable (the CLI prints it and exits 2, no traceback).
    """
    try:
        settings = Settings()
    except ValidationError as exc:
        raise explain(exc, Settings.model_fields) from None
    except SettingsError as exc:
        raise explain_parse_error(exc) from None
    check_home(settings.home)
    return settings
