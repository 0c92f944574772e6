"""``mlsys model``: list versions, promote one to champion, roll back, restore a past state."""

from __future__ import annotations

import click

from mlsys_assets.model_contract import TAG_GATE, TAG_THRESHOLD
from mlsys_assets.registry import aliases
from mlsys_assets.resources.tracking import Tracking
from mlsys_assets.secrets import redact_url
from mlsys_assets.settings import get_settings


def _tracking() -> Tracking:
    return Tracking.from_settings(get_settings())


def _show(event: aliases.AliasEvent) -> None:
    click.echo(
        f"event {event.event}: {event.action} v{event.version} -> "
        f"champion={event.champion or '-'} challenger={event.challenger or '-'}"
        + (f" ({event.note})" if event.note else "")
    )


@click.group()
def model() -> None:
    """Registry operations on the flight_delay model (aliases champion / challenger)."""


@model.command(name="list")
def list_versions() -> None:
    """Every version with its aliases, gate verdict, test AUC and data window."""
    tracking = _tracking()
    client = tracking.client()
    state = aliases.current(tracking)
    by_version = {v: a for a, v in state.items() if v is not None}
    versions = client.search_model_versions(f"name = '{tracking.model_name}'")
    if not versions:
        click.echo(f"no versions of {tracking.model_name} at {redact_url(tracking.tracking_uri)}")
        return
    click.echo(
        f"{'version':>7}  {'alias':<10}  {'gate':<7}  {'test_auc':>8}  "
        f"{'threshold':>9}  train_window           test_window"
    )
    for mv in sorted(versions, key=lambda v: int(v.version)):
        tags = mv.tags
        click.echo(
            f"{mv.version:>7}  {by_version.get(str(mv.version), ''):<10}  "
            f"{tags.get(TAG_GATE, '-'):<7}  {tags.get('test_roc_auc', '-')[:8]:>8}  "
            f"{tags.get(TAG_THRESHOLD, '-')[:9]:>9}  {tags.get('train_window', '-'):<21}  "
            f"{tags.get('test_window', '-')}"
        )


@model.command()
@click.argument("version")
@click.option("--force", is_flag=True, help="Promote even if the version failed the gate.")
def promote(version: str, force: bool) -> None:
    """Make VERSION the champion."""
    try:
        _show(aliases.promote(_tracking(), version, force=force))
    except aliases.AliasError as exc:
        raise click.ClickException(str(exc)) from exc


@model.command()
def rollback() -> None:
    """Give champion back to the previous champion."""
    try:
        _show(aliases.rollback(_tracking()))
    except aliases.AliasError as exc:
        raise click.ClickException(str(exc)) from exc


@model.command()
def history() -> None:
    """Every alias move, oldest first (restore any of them with `mlsys model restore EVENT`)."""
    for event in aliases.history(_tracking()):
        click.echo(f"{event.at}  ", nl=False)
        _show(event)


@model.command()
@click.argument("event", type=int)
def restore(event: int) -> None:
    """Set champion and challenger back to what they were after history EVENT."""
    try:
        _show(aliases.restore(_tracking(), event))
    except aliases.AliasError as exc:
        raise click.ClickException(str(exc)) from exc
