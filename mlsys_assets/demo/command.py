"""``mlsys demo [--quick] [--keep-running]``: the whole loop, with nobody doing the work by hand.

It starts the Dagster daemon and webserver, the MLflow UI, the API and the stream processor;
replays the first weeks of 2013 (the daemon's sensors ingest them and train the first champion);
then plays the following days live in event time (``live.py``): each flight is asked about at its
prediction time with the online store holding what is known then, its outcome is posted when its
day ends, and the sensors ingest, monitor, retrain, canary and promote meanwhile.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict
from pathlib import Path

import click
import dagster as dg
import httpx
from tqdm import tqdm

from mlsys_assets.clock import day_end_utc
from mlsys_assets.demo.console import quiet_console
from mlsys_assets.demo.home import reset_home
from mlsys_assets.demo.live import play_day, stream_caught_up
from mlsys_assets.demo.plan import FULL, QUICK, DemoPlan
from mlsys_assets.demo.summary import (
    check_outcomes,
    cost_per_variant,
    failed_runs,
    live_vs_offline,
    monitored_days,
    monthly_auc,
    render,
    runs,
    versions,
    write_summary,
)
from mlsys_assets.demo.traffic import Schedule, TrafficStats
from mlsys_assets.demo.waiting import (
    api_ready,
    pipeline_done,
    runs_settled,
    sensors_ticked,
    wait_for,
)
from mlsys_assets.instance import get_instance
from mlsys_assets.loop.sensors import SENSORS
from mlsys_assets.processes import (
    ProcessGroup,
    executable,
    is_a_stop,
    raise_on_sigterm,
    stop_with_parent,
    wait_for_port,
)
from mlsys_assets.settings import Settings, get_settings
from mlsys_assets.stream.sources import SOURCES
from mlsys_assets.ui import create_tracking_store, start_ui


def _configure(plan: DemoPlan) -> Settings:
    """Export the plan's settings so that this process and every child agree on them."""
    os.environ.update(plan.env)
    get_settings.cache_clear()
    return get_settings()


def settle(instance: dg.DagsterInstance, group: ProcessGroup) -> None:
    """Wait for a round of sensor ticks, then for every run they launched to finish.

    Repeats while the round launched something: a finished run can make another sensor fire
    (a retrain sets a challenger, monitoring measures drift).
    """
    while True:
        before = instance.get_runs_count()
        since = time.time()
        ticked = sensors_ticked(instance, since, [sensor.name for sensor in SENSORS])
        wait_for("a round of sensor ticks", ticked, 120, group, every=0.5)
        wait_for("runs to settle", runs_settled(instance), 900, group, every=1.0)
        if instance.get_runs_count() == before:
            return


@click.command()
@click.option("--quick", is_flag=True, help="Replay less (about 3 minutes).")
@click.option("--keep-running", is_flag=True, help="Leave the UIs and the API up until Ctrl-C.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--api-port", default=8000, show_default=True)
@click.option("--dagster-port", default=3000, show_default=True)
@click.option("--mlflow-port", default=5000, show_default=True)
@click.option(
    "--reports-port", type=int, default=None, help="Default: MLSYS_MONITORING__REPORTS_PORT."
)
def demo(
    quick: bool,
    keep_running: bool,
    host: str,
    api_port: int,
    dagster_port: int,
    mlflow_port: int,
    reports_port: int | None,
) -> None:
    """Run the main job end to end on the embedded default, then print a summary."""
    from mlsys_assets.registry import aliases
    from mlsys_assets.replay.publish import Replayer
    from mlsys_assets.resources.backends import build_event_stream
    from mlsys_assets.resources.tracking import Tracking
    from mlsys_assets.resources.warehouse import Warehouse

    raise_on_sigterm()  # from the start: SIGTERM stops the demo as Ctrl-C does
    stop_with_parent()  # and so does the death of whoever started it (`make demo` killed)
    plan = QUICK if quick else FULL
    get_settings()  # the person's own settings must be valid, even those the plan overrides
    settings = _configure(plan)
    started = time.monotonic()
    reset_home(settings.home_dir)
    quiet_console(settings.home_dir / "logs" / "demo.log")
    instance = get_instance(settings)
    tracking = Tracking.from_settings(settings)
    group = ProcessGroup(log_dir=settings.home_dir / "logs")
    api = f"http://{host}:{api_port}"
    stats = TrafficStats()
    try:
        click.echo(f"mlsys demo ({'quick' if quick else 'full'}) in {settings.home_dir}")
        with tqdm(total=5, desc=f"start servers, bootstrap to {plan.bootstrap_until}") as bar:
            create_tracking_store(settings)  # before any server opens MLflow's database
            group.start(
                "api",
                [executable("mlsys"), "serve", "--host", host, "--port", str(api_port)],
                url=api,
            )
            urls = start_ui(settings, group, host, dagster_port, mlflow_port, wait=False,
                            reports_port=reports_port)  # fmt: skip
            replayer = Replayer(settings)
            replayer.advance(day_end_utc(plan.bootstrap_until))  # while the servers import
            bar.update(1)
            for port in (dagster_port, mlflow_port, api_port):
                wait_for_port(host, port, timeout=180, group=group)
            bar.update(1)
            client = httpx.Client(base_url=api, timeout=30.0)
            schedule = Schedule(plan.traffic_share, settings.seed)
            wait_for(
                "the first ingestion run",
                pipeline_done(instance, plan.bootstrap_until.isoformat()),
                600,
                group,
            )
            bar.update(1)
            wait_for(
                "the first champion", lambda: aliases.current(tracking)["champion"], 600, group
            )
            bar.update(1)
            wait_for("the API to be ready", api_ready(client), 120, group)
            bar.update(1)
        first_champion = aliases.current(tracking)["champion"]
        events = build_event_stream(settings)
        caught_up = stream_caught_up(events)
        # Woken by the processor's acknowledgements (a file stream: inotify), else every 3 ms.
        acks = events.watch_acks([source.topic for source in SOURCES])

        def wait_for_stream() -> None:
            wait_for(
                "the stream processor",
                caught_up,
                60,
                group,
                every=0.003 if not acks.notified else 0.5,
                pause=acks.wait,
            )

        live_days = []
        for day in tqdm(plan.days(), desc="live days", unit="day"):
            played = play_day(
                day,
                replayer=replayer,
                schedule=schedule,
                client=client,
                stats=stats,
                wait_for_stream=wait_for_stream,
                explain_every=plan.explain_every,
            )
            # The nightly batch: the day's statistics must be online before the next morning.
            night = time.perf_counter()
            wait_for(
                f"the pipeline run for {day}",
                pipeline_done(instance, day.isoformat()),
                600,
                group,
                every=0.2,
            )
            live_days.append({**asdict(played), "night_seconds": time.perf_counter() - night})
        acks.close()
        # Let the sensors react to the last days (monitor, retrain, canary) before the summary.
        settle(instance, group)

        overview = sorted(Path(settings.reports_dir).rglob("*overview*.png"))
        monitored = monitored_days(Warehouse(path=str(settings.warehouse_path)))
        summary = {
            "seconds": round(time.monotonic() - started, 1),
            "traffic": {
                "predictions": stats.predictions,
                "feedback": stats.feedback,
                "status_counts": stats.status_counts,
                "non_200": stats.non_200,
            },
            "first_champion": first_champion,
            "live_days": live_days,
            "versions": versions(tracking),
            "retrains": runs(instance, "retrain"),
            "canaries": runs(instance, "canary"),
            "failed_runs": failed_runs(instance),
            "monthly_auc": monthly_auc(
                settings, Warehouse(path=str(settings.warehouse_path)), tracking, first_champion
            ),
            "live_vs_offline": live_vs_offline(
                settings, Warehouse(path=str(settings.warehouse_path)), tracking
            ),
            "cost_per_variant": cost_per_variant(
                settings, Warehouse(path=str(settings.warehouse_path))
            ),
            "checks": check_outcomes(instance),
            "monitoring": monitored,
            "where": {
                "Dagster UI": urls["dagster"],
                "MLflow UI": urls["mlflow"],
                "API": f"{api}/docs",
                "overview report": f"{urls['reports']}/{overview[-1].name}"
                if overview
                else "(not drawn yet)",
                "reports": urls["reports"],
                "state": str(settings.home_dir),
            },
        }
        write_summary(settings, summary)
        click.echo(render(summary))
        click.echo(f"\nfinished in {summary['seconds']} s")
        if keep_running:
            click.echo("The UIs and the API stay up; Ctrl-C stops them.")
            group.watch()
    except BaseException as error:
        if not is_a_stop(error):
            raise
    finally:
        group.stop()
