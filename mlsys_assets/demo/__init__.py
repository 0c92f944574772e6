"""``mlsys demo``: the main job, end to end on the embedded default."""

from mlsys_assets.demo.command import demo

__all__ = ["demo"]
