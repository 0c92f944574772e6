"""Assets and sensors get their settings from the ``run_settings`` resource: the launchpad shows
them with the process's values as defaults, a run overrides them, and no secret is among them."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from mlsys_assets.definitions import build_definitions
from mlsys_assets.resources.run_settings import RunSettings
from mlsys_assets.settings import LAYER_SECTIONS, Settings, get_settings


@dg.asset
def knobs(run_settings: RunSettings) -> dict[str, object]:
    settings = run_settings.resolve()
    return {
        "trials": settings.training.search_trials,
        "window_days": settings.training.window_days,
        "canary_share": settings.loop.canary_share,
        "home": str(settings.home_dir),
    }


def _resource_config_fields(job: dg.JobDefinition) -> dict[str, dg.Field]:
    resources = job.run_config_schema.config_type.fields["resources"].config_type
    return resources.fields["run_settings"].config_type.fields["config"].config_type.fields


def test_the_launchpad_shows_every_layer_section_with_the_process_values(
    mlsys_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLSYS_TRAINING__SEARCH_TRIALS", "3")
    get_settings.cache_clear()
    try:
        defs = build_definitions()
        fields = _resource_config_fields(defs.resolve_job_def("retrain"))
    finally:
        get_settings.cache_clear()
    assert set(fields) == {"seed", *LAYER_SECTIONS}
    assert fields["training"].default_value["search_trials"] == 3
    assert fields["training"].config_type.fields["search_trials"].default_value == 3


def test_no_backend_or_secret_reaches_run_config() -> None:
    fields = RunSettings.to_config_schema().as_field().config_type.fields
    assert "backends" not in fields and "home" not in fields
    shown = str(RunSettings.from_settings(Settings(backends={"admin_token": "t0ken-s3cret"})))
    assert "t0ken-s3cret" not in shown


def test_a_run_overrides_one_field_and_keeps_the_process_values_of_the_rest(
    mlsys_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLSYS_TRAINING__WINDOW_DAYS", "38")
    monkeypatch.setenv("MLSYS_LOOP__CANARY_SHARE", "0.3")
    get_settings.cache_clear()
    try:
        result = dg.materialize(
            [knobs],
            resources={"run_settings": RunSettings.from_settings(get_settings())},
            run_config={
                "resources": {"run_settings": {"config": {"training": {"search_trials": 1}}}}
            },
        )
    finally:
        get_settings.cache_clear()
    assert result.output_for_node("knobs") == {
        "trials": 1,  # the run's
        "window_days": 38,  # the process's, beside the overridden field
        "canary_share": 0.3,  # the process's, in another section
        "home": str(mlsys_home.resolve()),
    }
