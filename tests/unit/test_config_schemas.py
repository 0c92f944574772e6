"""A resource's config schema is inferred once per class (``mlsys_assets/config_schemas.py``):
the same schema Dagster infers, handed out again on every later construction."""

from __future__ import annotations

from pathlib import Path

from dagster._config.pythonic_config import config as dagster_config
from dagster._config.pythonic_config import resource as dagster_resource

from mlsys_assets import config_schemas
from mlsys_assets.resources.run_settings import RunSettings
from mlsys_assets.settings import Settings


def test_each_construction_after_the_first_reuses_the_schema_dagster_inferred(
    tmp_path: Path,
) -> None:
    config_schemas.install()
    config_schemas.install()  # twice changes nothing
    assert dagster_resource.infer_schema_from_config_class is (
        config_schemas.infer_schema_from_config_class
    )
    settings = Settings(home=tmp_path, training={"search_trials": 3})
    first = RunSettings.from_settings(settings)
    again = type(first)()
    assert again._schema is first._schema  # noqa: SLF001 - the cached Field itself

    theirs = dagster_config.infer_schema_from_config_class(type(first))
    assert first._schema.config_type.key == theirs.config_type.key  # noqa: SLF001
    assert again.training.search_trials == 3
    # The process's value is the default, as the launchpad shows it.
    training = again._schema.config_type.fields["training"]  # noqa: SLF001
    assert training.default_value["search_trials"] == 3


def test_a_schema_with_fields_left_out_is_cached_apart() -> None:
    whole = config_schemas.infer_schema_from_config_class(RunSettings)
    without_seed = config_schemas.infer_schema_from_config_class(
        RunSettings, fields_to_omit={"seed"}
    )
    assert "seed" in whole.config_type.fields
    assert "seed" not in without_seed.config_type.fields
