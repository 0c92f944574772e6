"""``mlsys daemon``: Dagster's own daemon command, with the sensor loop period of the settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from dagster._daemon import sensor as sensor_daemon

from mlsys_assets.daemon import daemon
from mlsys_assets.settings import get_settings


@pytest.fixture
def dagster_loop() -> Iterator[None]:
    before = sensor_daemon.MIN_INTERVAL_LOOP_TIME
    yield
    sensor_daemon.MIN_INTERVAL_LOOP_TIME = before
    get_settings.cache_clear()


@pytest.mark.usefixtures("dagster_loop")
def test_the_sensor_loop_period_comes_from_settings_and_the_rest_is_dagster_daemon_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert sensor_daemon.MIN_INTERVAL_LOOP_TIME == 5  # Dagster's own: what production keeps
    monkeypatch.setenv("MLSYS_LOOP__SENSOR_LOOP_SECONDS", "1.5")
    get_settings.cache_clear()
    result = CliRunner().invoke(daemon, ["--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: dagster-daemon run" in result.output  # the arguments went to Dagster
    assert sensor_daemon.MIN_INTERVAL_LOOP_TIME == 1.5
