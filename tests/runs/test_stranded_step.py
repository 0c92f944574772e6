"""A step that queued for the ``warehouse`` slot just after its last holder freed it gets the
free slot from the daemon's reaper, instead of waiting for good.

Dagster hands a pool's queued steps a slot only when a slot is freed; a step that saw the slot
taken, then queued a moment after the holder freed it, is woken by nobody (seen in the demo: a
``canary`` run "blocked by limit for pool warehouse" for minutes with the slot free, the next
run queued behind it). The interleaving is played here on the real instance, step by step.
"""

from __future__ import annotations

import dagster as dg

from mlsys_assets.loop.reaper import dead_run_reaper
from tests.runs.conftest import POOL

STEP = "write"


def started_run(instance: dg.DagsterInstance) -> str:
    run = dg.DagsterRun(job_name="next_writer", status=dg.DagsterRunStatus.STARTED)
    instance.add_run(run)
    return run.run_id


def claimed(instance: dg.DagsterInstance, run_id: str) -> bool:
    return instance.event_log_storage.claim_concurrency_slot(POOL, run_id, STEP).is_claimed


def reaper_says(instance: dg.DagsterInstance) -> str:
    return dead_run_reaper(dg.build_sensor_context(instance=instance)).skip_message or ""


def test_a_step_queued_just_after_the_slot_was_freed_is_given_the_slot(
    instance: dg.DagsterInstance,
) -> None:
    storage = instance.event_log_storage
    storage.initialize_concurrency_limit_to_default(POOL)
    holder, late = started_run(instance), started_run(instance)
    assert claimed(instance, holder)
    assert not storage.has_unassigned_slots(POOL)  # what ``late`` sees: the slot is taken
    storage.free_concurrency_slot_for_step(holder, STEP)  # the holder finishes: nobody queued
    storage.add_pending_step(POOL, late, STEP, should_assign=False)  # ``late`` queues

    # Dagster alone: the slot is free, the step is told to wait, every time it asks.
    for _ in range(3):
        assert not claimed(instance, late)
    assert storage.get_concurrency_info(POOL).claimed_slots == []

    assert f"gave a free pool slot to waiting steps: {late} {STEP}" in reaper_says(instance)
    assert claimed(instance, late)


def test_a_step_waiting_for_a_held_slot_is_left_waiting(instance: dg.DagsterInstance) -> None:
    storage = instance.event_log_storage
    storage.initialize_concurrency_limit_to_default(POOL)
    holder, waiting = started_run(instance), started_run(instance)
    assert claimed(instance, holder)
    assert not claimed(instance, waiting)

    assert "gave a free pool slot" not in reaper_says(instance)
    assert not claimed(instance, waiting)
    assert [s.run_id for s in storage.get_concurrency_info(POOL).claimed_slots] == [holder]

    storage.free_concurrency_slot_for_step(holder, STEP)  # Dagster's own hand-over
    assert claimed(instance, waiting)
