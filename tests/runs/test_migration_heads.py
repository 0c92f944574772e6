"""Dagster's migration scripts are read once per process; every instance still checks its
database's revision against them."""

from __future__ import annotations

import dagster as dg
import dagster._core.storage.runs.sqlite.sqlite_run_storage as sqlite_runs
import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from dagster._core.storage.sql import get_alembic_config

from mlsys_assets.migration_heads import remember_migration_heads


@pytest.fixture(autouse=True)
def remembered() -> None:
    remember_migration_heads()


def test_dagster_migration_scripts_are_read_once() -> None:
    config = get_alembic_config(sqlite_runs.__file__)
    first = ScriptDirectory.from_config(config)
    assert ScriptDirectory.from_config(get_alembic_config(sqlite_runs.__file__)) is first
    assert first.as_revision_number("head")  # a real head, read from the scripts


def test_other_libraries_migrations_are_read_as_before(tmp_path) -> None:
    (tmp_path / "versions").mkdir()
    (tmp_path / "script.py.mako").write_text("")
    config = Config()
    config.set_main_option("script_location", str(tmp_path))
    assert ScriptDirectory.from_config(config) is not ScriptDirectory.from_config(config)


def test_instances_still_open_and_check_their_storage(tmp_path) -> None:
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        ref = instance.get_ref()
    for _ in range(2):  # the second build uses the remembered scripts
        with dg.DagsterInstance.from_ref(ref) as again:
            assert again.run_storage.alembic_version() is not None
            db_revision, head = again.run_storage.alembic_version()
            assert db_revision == head
