"""Settings: everything under MLSYS_HOME by default, production fails fast without its backends."""

from __future__ import annotations

import datetime as dt
import warnings

import pytest
from pydantic import ValidationError

from mlsys_assets.settings import LEGACY_NAMES, SECTIONS, Settings, SettingsDeprecationWarning


def test_local_profile_needs_no_environment(tmp_path) -> None:
    settings = Settings(home=tmp_path)
    assert settings.warehouse_path == tmp_path / "warehouse.duckdb"
    assert settings.source_db == f"sqlite:///{tmp_path / 'source.sqlite'}"
    assert settings.tracking_uri == f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    for path in (settings.landing_dir, settings.predictions_dir, settings.dagster_home):
        assert path.is_relative_to(tmp_path)


def test_environment_variables_use_the_mlsys_prefix(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MLSYS_HOME", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("MLSYS_BACKENDS__ONLINE_STORE", "redis")
    settings = Settings()
    assert settings.home_dir == tmp_path / "elsewhere"
    assert settings.backends.online_store == "redis"


def test_prod_profile_refuses_to_start_without_its_backends(tmp_path) -> None:
    with pytest.raises(
        ValidationError, match="MLSYS_BACKENDS__SOURCE_DB_URL.*MLSYS_BACKENDS__ADMIN_TOKEN"
    ):
        Settings(home=tmp_path, profile="prod")


def test_unknown_backend_is_rejected(tmp_path) -> None:
    with pytest.raises(ValidationError, match="online_store"):
        Settings(home=tmp_path, backends={"online_store": "cassandra"})  # type: ignore[arg-type]


def test_a_section_is_set_by_its_nested_variable(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MLSYS_LOOP__CANARY_SHARE", "0.3")
    monkeypatch.setenv("MLSYS_TRAINING__CUTOFF", "2013-05-01")
    monkeypatch.setenv(
        "MLSYS_SERVING__RULES", '[{"when": {"carrier": "UA"}, "decision": "delayed"}]'
    )
    settings = Settings(home=tmp_path)
    assert settings.loop.canary_share == 0.3
    assert settings.training.cutoff_day == dt.date(2013, 5, 1)
    assert settings.serving.rules == [{"when": {"carrier": "UA"}, "decision": "delayed"}]


def test_a_flat_name_of_the_previous_release_still_works_with_a_warning(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("MLSYS_CANARY_SHARE", "0.3")
    monkeypatch.setenv("MLSYS_PREDICTION_LOG_FLUSH_ROWS", "7")
    with pytest.warns(
        SettingsDeprecationWarning, match="MLSYS_CANARY_SHARE -> MLSYS_LOOP__CANARY_SHARE"
    ):
        settings = Settings(home=tmp_path)
    assert settings.loop.canary_share == 0.3
    assert settings.serving.log_flush_rows == 7


def test_the_new_name_wins_over_the_old_one(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MLSYS_CANARY_SHARE", "0.3")
    monkeypatch.setenv("MLSYS_LOOP__CANARY_SHARE", "0.6")
    with pytest.warns(SettingsDeprecationWarning):
        assert Settings(home=tmp_path).loop.canary_share == 0.6


def test_every_flat_name_has_a_home_in_a_section() -> None:
    for old, (section, name) in LEGACY_NAMES.items():
        assert name in SECTIONS[section].model_fields, old


def test_no_environment_gives_no_warning(tmp_path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", SettingsDeprecationWarning)
        Settings(home=tmp_path)


def test_replace_validates_a_section_and_keeps_the_rest(tmp_path) -> None:
    settings = Settings(home=tmp_path, loop={"canary_min_labelled": 77})
    changed = settings.replace(loop={"canary_share": 0.5})
    assert (changed.loop.canary_share, changed.loop.canary_min_labelled) == (0.5, 77)
    assert settings.loop.canary_share == 0.1  # the original is untouched
    with pytest.raises(ValidationError):
        settings.replace(loop={"canary_share": 2.0})
    with pytest.raises(KeyError, match="no setting"):
        settings.replace(canary_share=0.5)


def test_a_wrong_cutoff_is_refused(tmp_path) -> None:
    with pytest.raises(ValidationError, match="cutoff"):
        Settings(home=tmp_path, training={"cutoff": "May 1st"})


def test_a_dotenv_file_is_read_for_old_names_and_the_environment_wins(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("MLSYS_CANARY_SHARE=0.3\nMLSYS_PREDICTION_LOG_FLUSH_ROWS=7\n")
    monkeypatch.setenv("MLSYS_PREDICTION_LOG_FLUSH_ROWS", "9")
    with pytest.warns(SettingsDeprecationWarning, match="MLSYS_CANARY_SHARE"):
        settings = Settings(home=tmp_path)
    assert (settings.loop.canary_share, settings.serving.log_flush_rows) == (0.3, 9)
