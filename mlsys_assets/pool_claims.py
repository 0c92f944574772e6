"""A run step waiting for a pool slot sleeps between its checks, and checks every 2 s at most.

Inside a run, Dagster's executor asks ``InstanceConcurrencyContext.interval_to_next_pending_claim_check``
how long to sleep while a step waits for a pool slot. In Dagster 1.13 that is
``min([0, *time_to_each_check])``: never more than 0, so the run worker loops without sleeping.
On two cores a run waiting for the ``warehouse`` slot took about 75% of a core from the run
holding it, for as long as it waited (a fix upstream, dagster-io/dagster#20367, was closed
unmerged). Here the interval is the time to the step's next check, at most a second (a
cancelled run is still noticed within a second).

The checks themselves back off from 1 s to 15 s, so a step that waited a minute noticed the freed
slot up to 15 s late, and the demo's runs hand the one slot on dozens of times. A check is a few
indexed reads of the instance's database; every 2 s at most costs nothing worth the wait.

``install()`` is called where run workers load mlsys (``definitions.py``); it changes nothing
if Dagster no longer has the class, method or constant it replaces (the replacement also reads
the context's ``_pending_claims`` and ``_pending_timeouts``: re-read it on a Dagster upgrade;
``tests/runs/test_pool_claims.py`` fails if the wait spins again).
"""

from __future__ import annotations

import time

from dagster._core.execution.plan import instance_concurrency_context as _claims

MAX_SLEEP_SECONDS = 1.0  # between two looks at the pending claims (and at a cancellation)
MAX_CHECK_INTERVAL_SECONDS = 2.0  # between two claim checks of a step waiting for a slot


def _interval_to_next_pending_claim_check(self: _claims.InstanceConcurrencyContext) -> float:
    if not self._pending_claims:
        return 0.0
    now = time.time()
    next_check = min((at - now for at in self._pending_timeouts.values()), default=0.0)
    return max(0.0, min(MAX_SLEEP_SECONDS, next_check))


def install() -> bool:
    """Patch Dagster's pending-claim wait (idempotent); False if its internals have changed."""
    context = getattr(_claims, "InstanceConcurrencyContext", None)
    if context is None or not hasattr(_claims, "MAX_CONCURRENCY_CLAIM_BLOCKED_INTERVAL"):
        return False
    if not hasattr(context, "interval_to_next_pending_claim_check"):
        return False
    context.interval_to_next_pending_claim_check = _interval_to_next_pending_claim_check
    _claims.MAX_CONCURRENCY_CLAIM_BLOCKED_INTERVAL = MAX_CHECK_INTERVAL_SECONDS
    return True
