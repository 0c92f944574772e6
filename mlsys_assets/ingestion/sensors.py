"""``new_landing_data``: one ingestion run per step of the replay clock or newly landed file.

The cursor remembers the last replayed day and the flight files already seen, so each new day
(or a late file landing for an old day) triggers exactly one run, covering the oldest new day
through the newest replayed one. Starts stopped: ``mlsys ui`` (or the UI) turns it on.
"""

import datetime as dt
import json

import dagster as dg

from mlsys_assets.clock import read_state
from mlsys_assets.ingestion.run import RANGE_END_TAG, RANGE_START_TAG
from mlsys_assets.resources.landing_zone import LandingZone

FIRST_DAY = dt.date(2013, 1, 1)


@dg.sensor(
    name="new_landing_data",
    asset_selection=dg.AssetSelection.groups("ingestion"),
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.STOPPED,
)
def new_landing_data(
    context: dg.SensorEvaluationContext, landing_zone: LandingZone
) -> dg.RunRequest | dg.SkipReason:
    """Ingest the days the replay clock moved past, and days whose file landed late."""
    state = read_state(landing_zone.root)
    if state is None:
        return dg.SkipReason("nothing replayed yet")
    seen = json.loads(context.cursor) if context.cursor else {"last_day": None, "files": []}
    files = sorted(
        p.parent.name.removeprefix("date=")
        for p in (landing_zone.root / "flights").glob("date=*/flights.csv")
    )
    last_day = dt.date.fromisoformat(state["last_day"])
    days = {dt.date.fromisoformat(d) for d in set(files) - set(seen["files"])}
    previous = dt.date.fromisoformat(seen["last_day"]) if seen["last_day"] else None
    if previous is None or last_day > previous:
        days.add(previous + dt.timedelta(days=1) if previous else FIRST_DAY)
    if not days:
        return dg.SkipReason(f"no new landing data since {last_day}")
    start = min(days)
    context.update_cursor(json.dumps({"last_day": last_day.isoformat(), "files": files}))
    return dg.RunRequest(
        run_key=f"ingest:{start}:{last_day}:{len(files)}",
        tags={
            RANGE_START_TAG: start.isoformat(),
            RANGE_END_TAG: last_day.isoformat(),
            "mlsys/reason": "new landing data",
        },
    )
