"""Names `vulture` (make lint) cannot see being used: frameworks call them, or they are read by name.

Decorated framework entry points (click commands, FastAPI routes, pydantic validators, pytest
fixtures) and ``pytestmark``/``model_config`` are ignored in ``[tool.vulture]``; what is left
is listed here, each with the reason. A new false positive goes here with its reason; anything
else vulture reports is dead code to remove.
"""

# ruff: noqa
# fmt: off
_ = object()

# click: a Group subclass that imports sub-commands on first use overrides these.
_.list_commands  # mlsys_assets/cli.py
_.get_command  # mlsys_assets/cli.py
# logging: handlers swapped on a logger (demo console).
_.handlers  # mlsys_assets/demo/console.py
# Module-level __getattr__ (PEP 562): lazy imports of MLflow-heavy names.
__getattr__  # mlsys_assets/registry/__init__.py
# Dataclass / NamedTuple fields read through asdict() or as columns (summaries, reports, JSON).
stream_waits  # mlsys_assets/demo/live.py LiveDay -> demo summary
base_rate_log_loss  # mlsys_assets/registry/gate.py -> gate report
plane_old  # mlsys_assets/replay/faults.py FaultPlan -> _faults.json
reference_rows_added  # mlsys_assets/replay/publish.py PublishSummary
_.reference_rows_added
missing_features  # serving/pipeline.py columns -> response field
previous_champion  # serving/schemas.py response fields
registry_reachable
# Dagster calls these on resources; MLflow calls load_context; XGBoost calls after_iteration.
_.teardown_after_execution
_.load_context
_.after_iteration
# Test doubles: attributes a server or browser library reads.
_.should_exit  # uvicorn.Server
_.auto_open  # hypothesis/schemathesis settings
spark_engine  # pytest fixture requested by name
# http.server calls these on request handlers (the report server, the tests' webhook receiver).
_.log_message
_.do_POST
do_POST
do_PUT
do_DELETE
do_PATCH
# Dataclass fields written out whole (dataclasses.asdict: run metadata, version tags, reports).
_.canary_from
_.truth_auc_diff
_.truth_flights
_.truth_cost_diff
_.paired_days
_.paired_flights
_.paired_low
_.paired_high
_.unpaired_days
_.unpaired_flights
_.cost_champion
_.cost_challenger
_.log_loss_low
_.log_loss_high

# Protobuf messages set their fields by attribute assignment (the V2 gRPC tests).
_.string_param
_.bool_param
# gRPC calls the servicer's methods by the protocol's RPC names (serving/v2/grpc_service.py).
_.ServerMetadata
_.ModelMetadata
# Dagster builds a configurable storage named in dagster.yaml through this classmethod.
_.from_config_value
# pydantic-settings calls these hooks of a settings class and of a settings source.
_.settings_customise_sources
_.get_field_value
# pydantic reads a FieldInfo's default_factory (run_settings.py clears it to set a default).
_.default_factory
_._split_scope  # tests/scheduling.py: pytest-xdist's scheduler calls it (and the next two)
_._assign_work_unit
_.remove_node
_.shutting_down  # tests/unit/test_test_scheduling.py: xdist reads it (and gateway) of a worker
_.gateway
_.loadscopereorder  # tests/conftest.py: pytest-xdist's option, set for its scheduler
