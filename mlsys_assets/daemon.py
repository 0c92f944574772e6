"""``mlsys daemon [dagster-daemon run options]``: Dagster's daemon (sensors, the run queue, run
monitoring and retries) with the sensor loop's period taken from ``MLSYS_LOOP__SENSOR_LOOP_SECONDS``.

Dagster's sensor daemon evaluates every sensor in a loop that starts at most once every 5 s, a
module constant with no instance setting (``dagster._daemon.sensor.MIN_INTERVAL_LOOP_TIME``).
Every hop of the retraining loop waits for that loop (a day landed -> its pipeline run; features
ready -> monitoring; labels -> retrain; shadow pairs -> canary), and a sensor that reads the
warehouse only gets a look at it between the nightly runs. A replayed world that plays a day in
seconds (the demo) needs a shorter loop; production keeps Dagster's 5 s. The daemon runs its
daemons as threads of this process, so setting the constant here is what they use.
"""

from __future__ import annotations

import click

from mlsys_assets.settings import get_settings


@click.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,  # `mlsys daemon --help` is dagster-daemon run's help
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def daemon(args: tuple[str, ...]) -> None:
    """Run ``dagster-daemon run ARGS`` with a sensor loop of MLSYS_LOOP__SENSOR_LOOP_SECONDS."""
    from dagster._daemon import sensor as sensor_daemon
    from dagster._daemon.cli import cli as dagster_daemon

    if not hasattr(sensor_daemon, "MIN_INTERVAL_LOOP_TIME"):
        raise click.ClickException(
            "this Dagster has no dagster._daemon.sensor.MIN_INTERVAL_LOOP_TIME: "
            "check the sensor loop of the installed version before upgrading"
        )
    sensor_daemon.MIN_INTERVAL_LOOP_TIME = get_settings().loop.sensor_loop_seconds
    dagster_daemon(["run", *args], prog_name="dagster-daemon", obj={})
