"""The embedded instance keeps sensor ticks in Dagster's SQLite schedule storage with one engine
and remembered table checks: ticks and cursors round-trip as before."""

from __future__ import annotations

import time

from dagster._core.definitions.run_request import InstigatorType
from dagster._core.scheduler.instigation import TickData, TickStatus

from mlsys_assets.instance import get_instance
from mlsys_assets.schedule_storage import RememberingSqliteScheduleStorage
from mlsys_assets.settings import Settings


def test_the_embedded_instance_uses_the_remembering_schedule_storage(tmp_path) -> None:
    instance = get_instance(Settings(home=tmp_path))
    storage = instance.schedule_storage
    assert isinstance(storage, RememberingSqliteScheduleStorage)
    assert storage.has_instigators_table() and storage.has_secondary_index_table()
    assert storage._present  # seen once, not looked up again
    instance.dispose()


def test_ticks_round_trip_through_the_storage(tmp_path) -> None:
    instance = get_instance(Settings(home=tmp_path))
    tick = instance.create_tick(
        TickData(
            instigator_origin_id="origin",
            instigator_name="a_sensor",
            instigator_type=InstigatorType.SENSOR,
            status=TickStatus.STARTED,
            timestamp=time.time(),
            selector_id="selector",
        )
    )
    instance.update_tick(tick.with_status(TickStatus.SKIPPED))
    ticks = instance.get_ticks("origin", "selector")
    assert [t.status for t in ticks] == [TickStatus.SKIPPED]
    instance.dispose()
