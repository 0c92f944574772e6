"""How ``make test`` hands tests to its pytest-xdist workers (``tests/conftest.py`` names the
groups): whole groups in collection order, like xdist's ``--dist loadscope``, with one rule
more: every group that starts a live system goes to one worker, the first that takes one.

The demo comes first, so its worker runs the other live systems (chaos, demo stops) right
after it while the other worker goes on with the in-process tests; a worker that asks while
only a live system is left waits for the end instead. xdist is imported only when the
scheduler is made (the unit tier never loads it).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any


def group_scheduling(
    config: Any, log: Any, *, group: Callable[[str], str], live: Collection[str]
) -> Any:
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def __init__(self, config: Any, log: Any = None) -> None:
            super().__init__(config, log)
            self.live_node: Any = None  # the worker that runs the live systems

        def _split_scope(self, nodeid: str) -> str:
            return group(nodeid)

        def _next_scope(self, node: Any) -> str | None:
            for scope in self.workqueue:
                if scope not in live or self.live_node in (None, node):
                    return scope
            return None

        def _assign_work_unit(self, node: Any) -> None:
            """LoadScopeScheduling's, but the first unit this worker may take."""
            scope = self._next_scope(node)
            if scope is None:  # only live systems left, and they are the other worker's
                return
            work_unit = self.workqueue.pop(scope)
            self.assigned_work.setdefault(node, {})[scope] = work_unit
            if scope in live:
                self.live_node = node
            collection = self.registered_collections[node]
            node.send_runtest_some(
                [collection.index(nodeid) for nodeid, done in work_unit.items() if not done]
            )

        def remove_node(self, node: Any) -> str | None:
            if node is self.live_node:  # a crashed worker: its live systems go to the next
                self.live_node = None
            return super().remove_node(node)

    return GroupScheduling(config, log)
