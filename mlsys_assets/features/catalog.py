"""The feature definitions of the flights task: every feature mlsys serves is declared here, once.

Leakage rules they encode (docs/architecture.md "Time"): outcomes of local day D are known at
the end of D, weather of hour h once h is over, the schedule a day ahead, a plane's attributes
from ``valid_from``. A feature value is usable at time t only if its ``event_timestamp`` is
strictly before t.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from mlsys_assets.features import intraday
from mlsys_assets.features.request import REQUEST_FEATURES
from mlsys_assets.features.spec import (
    DerivedFeature,
    DerivedKey,
    Entity,
    Feature,
    FeatureService,
    FeatureView,
    OnDemandView,
)

WINDOWS_DAYS: tuple[int, ...] = (1, 7, 28)
LATE_MINUTES = 15
STATS_TTL = dt.timedelta(days=2)  # a value per day; one missed daily run is still served
WEATHER_TTL = dt.timedelta(hours=3)
SCHEDULE_LEAD = dt.timedelta(days=1)  # a departure hour's schedule is published a day ahead


def _departure_hour(request: Mapping[str, Any]) -> dt.datetime:
    sched: dt.datetime = request["scheduled_departure"]
    return sched.replace(minute=0, second=0, microsecond=0)


CARRIER = Entity("carrier", ("carrier",), "An airline, by its two-letter code.")
ORIGIN = Entity("origin", ("origin",), "A departure airport (EWR, JFK, LGA).")
DEST = Entity("dest", ("dest",), "An arrival airport.")
ROUTE = Entity("route", ("origin", "dest"), "An origin-destination pair.")
PLANE = Entity("plane", ("tailnum",), "An aircraft, by tail number.")
ORIGIN_HOUR = Entity(
    "origin_hour",
    ("origin", "dep_hour"),
    "A departure airport during one UTC hour (the flight's scheduled departure hour).",
    derived={
        "dep_hour": DerivedKey(
            sql="date_trunc('hour', scheduled_departure)", python=_departure_hour
        )
    },
)


def _outcome_stats(entity: Entity, prefix: str, what: str) -> FeatureView:
    stored: list[Feature] = []
    for days in WINDOWS_DAYS:
        span = f"over the last {days} day{'s' if days > 1 else ''} of known outcomes"
        stored += [
            Feature(
                f"{prefix}_late_share_{days}d",
                "float64",
                f"Share of {what}'s flights {LATE_MINUTES}+ min late {span}.",
            ),
            Feature(
                f"{prefix}_mean_arr_delay_{days}d",
                "float64",
                f"Mean arrival delay (min) of {what}'s flights {span}.",
            ),
            Feature(
                f"{prefix}_flights_{days}d",
                "float64",
                f"Number of {what}'s flights with a known arrival delay {span}.",
            ),
        ]
    return FeatureView(
        name=f"{prefix}_delay_stats",
        kind="outcome_stats",
        entity=entity,
        description=(
            f"Delay statistics of {what} over the last {', '.join(map(str, WINDOWS_DAYS))} days, "
            "one row per entity and local day D, known at the end of D (only outcomes available "
            "by then are counted)."
        ),
        sources=("raw_flights",),
        event_time="end of the local day D (raw.flights.outcome_available_at)",
        ttl=STATS_TTL,
        stored=tuple(stored),
        params={"windows": WINDOWS_DAYS, "late_minutes": LATE_MINUTES},
    )


CARRIER_STATS = _outcome_stats(CARRIER, "carrier", "the carrier")
ORIGIN_STATS = _outcome_stats(ORIGIN, "origin", "the origin airport")
DEST_STATS = _outcome_stats(DEST, "dest", "the destination airport")
ROUTE_STATS = _outcome_stats(ROUTE, "route", "the route")

ORIGIN_CONGESTION = FeatureView(
    name="origin_congestion",
    kind="congestion",
    entity=ORIGIN_HOUR,
    description=(
        "Departures scheduled at the origin in the flight's hour and in the hour before, "
        "from the published schedule (cancelled flights count: they were scheduled)."
    ),
    sources=("raw_flights",),
    event_time=f"the departure hour minus the schedule lead ({SCHEDULE_LEAD})",
    ttl=None,
    stored=(
        Feature(
            "origin_departures_hour",
            "float64",
            "Departures scheduled at the origin in the flight's UTC hour.",
        ),
        Feature(
            "origin_departures_prev_hour",
            "float64",
            "Departures scheduled at the origin in the hour before.",
        ),
    ),
    params={"schedule_lead": SCHEDULE_LEAD},
)

WEATHER_COLUMNS: dict[str, tuple[str, str]] = {
    "weather_temp": ("temp", "Temperature (F)"),
    "weather_wind_speed": ("wind_speed", "Wind speed (mph)"),
    "weather_wind_gust": ("wind_gust", "Wind gust (mph), null when none was reported"),
    "weather_precip": ("precip", "Precipitation (inches)"),
    "weather_visib": ("visib", "Visibility (miles)"),
    "weather_pressure": ("pressure", "Sea-level pressure (millibars)"),
}
ORIGIN_WEATHER = FeatureView(
    name="origin_weather",
    kind="weather",
    entity=ORIGIN,
    description=(
        f"The latest hourly weather observation at the origin known before the feature time; "
        f"older than {WEATHER_TTL} it is stale, reported missing and never served."
    ),
    sources=("raw_weather",),
    event_time="raw.weather.available_at (the end of the observed hour)",
    ttl=WEATHER_TTL,
    stored=tuple(
        Feature(name, "float64", f"{label} at the origin, latest observation.")
        for name, (_, label) in WEATHER_COLUMNS.items()
    ),
    params={"columns": {name: col for name, (col, _) in WEATHER_COLUMNS.items()}},
)


def plane_age(year_built: Any, at_year: Any) -> Any:
    """Age in years at the feature time; element-wise on arrays, NaN/None when unknown."""
    if year_built is None:
        return None
    return at_year - year_built


PLANE_ATTRIBUTES = FeatureView(
    name="plane_attributes",
    kind="plane",
    entity=PLANE,
    description=(
        "The aircraft as it was at the feature time: each version of raw.planes (SCD2) is valid "
        "from valid_from until valid_to."
    ),
    sources=("raw_planes",),
    event_time="raw.planes.valid_from (the version's start)",
    ttl=None,
    stored=(
        Feature("plane_seats", "float64", "Number of seats."),
        Feature("plane_engines", "float64", "Number of engines."),
        Feature("plane_manufacturer", "string", "Manufacturer name."),
    ),
    hidden=(Feature("plane_year_built", "float64", "Year of manufacture."),),
    derived=(
        DerivedFeature(
            Feature("plane_age", "float64", "Age in years at the feature time."),
            stored="plane_year_built",
            fn=plane_age,
        ),
    ),
    partitioned=False,
    has_valid_to=True,
)

FEATURE_VIEWS: tuple[FeatureView, ...] = (
    CARRIER_STATS,
    ORIGIN_STATS,
    DEST_STATS,
    ROUTE_STATS,
    ORIGIN_CONGESTION,
    ORIGIN_WEATHER,
    PLANE_ATTRIBUTES,
)

FLIGHTS_V1 = FeatureService(
    name="flights_v1",
    views=FEATURE_VIEWS,
    request=REQUEST_FEATURES,
    description="Inputs of the flight_delay model: P(arr_delay >= 15) at prediction time.",
)


# ------------------------------------------------------------------------------ intraday
_WINDOWS = ", ".join(intraday.window_label(w) for w in intraday.ORIGIN_WINDOWS)
INTRADAY_ORIGIN = OnDemandView(
    name="intraday_origin",
    entity="origin",
    features=tuple(
        Feature(name, "float64", text)
        for w in intraday.ORIGIN_WINDOWS
        for name, text in (
            (
                f"origin_dep_delay_so_far_{intraday.window_label(w)}",
                f"Mean departure delay (min) of the origin's flights scheduled in the "
                f"{intraday.window_label(w)} before t; one not gone by t counts t - scheduled.",
            ),
            (
                f"origin_late_share_so_far_{intraday.window_label(w)}",
                f"Share of them {intraday.LATE_MINUTES}+ min late by that measure.",
            ),
            (
                f"origin_waiting_{intraday.window_label(w)}",
                "How many of them had not left by t (as far as known before t).",
            ),
            (
                f"origin_scheduled_{intraday.window_label(w)}",
                f"Departures scheduled at the origin in the {intraday.window_label(w)} before t.",
            ),
        )
    ),
    description=(
        f"Today at the origin, over windows of {_WINDOWS} before the request: how late the "
        "departures are so far, counting those still waiting as late as they are by then."
    ),
    compute="origin",
    params={"windows": intraday.ORIGIN_WINDOWS, "late_minutes": intraday.LATE_MINUTES},
    ttl=dt.timedelta(days=2),
)
INTRADAY_CARRIER = OnDemandView(
    name="intraday_carrier",
    entity="carrier",
    features=(
        Feature(
            "carrier_today_late_share",
            "float64",
            f"Share of the carrier's NYC departures known before t that left "
            f"{intraday.LATE_MINUTES}+ min late, today.",
        ),
        Feature(
            "carrier_today_dep_delay", "float64", "Mean departure delay (min) of those departures."
        ),
        Feature("carrier_today_departed", "float64", "How many of them."),
    ),
    description="The carrier's departures from New York today, known before the request.",
    compute="carrier",
    params={"late_minutes": intraday.LATE_MINUTES},
    ttl=dt.timedelta(days=2),
)
INTRADAY_PLANE = OnDemandView(
    name="intraday_plane",
    entity="tailnum",
    features=(
        Feature(
            "plane_prev_dep_delay",
            "float64",
            "Departure delay (min) of the aircraft's latest NYC departure known before t.",
        ),
        Feature("plane_prev_minutes_ago", "float64", "Minutes since that departure, at t."),
    ),
    description="The same aircraft's previous departure from New York today.",
    compute="plane",
    ttl=dt.timedelta(days=2),
)
INTRADAY_VIEWS: tuple[OnDemandView, ...] = (INTRADAY_ORIGIN, INTRADAY_CARRIER, INTRADAY_PLANE)


def view_ttl_seconds() -> dict[str, float]:
    """Each view's TTL in seconds, day tables included (they expire a day after their day).

    The writers of the online store hand it to ``resources.backends.build_online_store``: Redis
    expires each key that long after its write (the reader still judges staleness).
    """
    views = (*FEATURE_VIEWS, *INTRADAY_VIEWS)
    return {v.name: v.ttl.total_seconds() for v in views if v.ttl is not None}


FLIGHTS_V2 = FeatureService(
    name="flights_v2",
    views=FEATURE_VIEWS,
    request=REQUEST_FEATURES,
    on_demand=INTRADAY_VIEWS,
    description=(
        "flights_v1 plus what has happened today before the request: the origin's delays so "
        "far, the carrier's, and the aircraft's previous departure."
    ),
)
SERVICES: dict[str, FeatureService] = {s.name: s for s in (FLIGHTS_V1, FLIGHTS_V2)}
SERVED = FLIGHTS_V2
"""What serving looks up and the prediction log records: every service in ``SERVICES`` is a
subset of it, so a model of any of them is scored from the same lookup (a model names its
service in its feature spec; serving refuses one it does not know)."""
