"""``mlsys decisions follow``: a downstream consumer of serving's ``decisions`` stream."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def decisions() -> None:
    """Serving's outbound stream of answered decisions."""


@decisions.command()
@click.option("--sink", type=click.Path(path_type=Path), required=True, help="SQLite file.")
@click.option("--group", default="downstream", show_default=True, help="Consumer group.")
@click.option("--consumer", default="follower-1", show_default=True)
def follow(sink: Path, group: str, consumer: str) -> None:
    """Apply every decision once into SINK (keyed by request id), resuming from the group's
    cursor after a restart."""
    from mlsys_assets.downstream.follower import DecisionFollower
    from mlsys_assets.resources.backends import build_event_stream
    from mlsys_assets.settings import get_settings

    follower = DecisionFollower(build_event_stream(get_settings()), sink, group, consumer)
    try:
        follower.follow()
    except KeyboardInterrupt:
        pass
    finally:
        follower.close()
