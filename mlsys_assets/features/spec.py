"""The vocabulary of feature definitions: entities, features, views and services.

A definition is data, not code paths: the offline computation, the training-set join, the online
materialization, the serving lookup, the Dagster metadata and the README all read these objects,
so a feature is declared exactly once (the shape of Feast's ``Entity``/``FeatureView``/
``FeatureService``, without its machinery).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

Dtype = Literal["float64", "string"]
ViewKind = Literal["outcome_stats", "congestion", "weather", "plane"]


def format_key_part(value: Any) -> str:
    """One join-key value as it appears in an online key (timestamps to the minute)."""
    if isinstance(value, dt.datetime):
        return _format_minute(value)
    return str(value)


@lru_cache(maxsize=65536)
def _format_minute(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M")


def format_ttl(ttl: dt.timedelta | None) -> str:
    """'2 days', '3 hours' or 'none' (docs and metadata)."""
    if ttl is None:
        return "none"
    seconds = int(ttl.total_seconds())
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return str(ttl)


@dataclass(frozen=True)
class DerivedKey:
    """A join key computed from the request (e.g. the departure hour), in SQL and in Python.

    The two forms are the only place where one rule is spelled twice; the parity check and the
    parity test compare them on real rows.
    """

    sql: str  # over the entity-row columns (scheduled_departure, ...)
    python: Callable[[Mapping[str, Any]], Any]  # over the normalized request
    sql_type: str = "TIMESTAMP"


@dataclass(frozen=True)
class Entity:
    """What a feature value is about, and the columns that identify it."""

    name: str
    join_keys: tuple[str, ...]
    description: str
    derived: Mapping[str, DerivedKey] = field(default_factory=dict)

    def key_sql(self, alias: str = "") -> str:
        """SQL giving the online key string of a feature-table row (same format as ``keys``)."""
        prefix = f"{alias}." if alias else ""
        parts = []
        for key in self.join_keys:
            if key in self.derived and self.derived[key].sql_type == "TIMESTAMP":
                parts.append(f"strftime({prefix}{key}, '%Y-%m-%dT%H:%M')")
            else:
                parts.append(f"CAST({prefix}{key} AS VARCHAR)")
        return " || '|' || ".join(parts)

    def keys(self, requests: Sequence[Mapping[str, Any]]) -> list[str | None]:
        """The online key of each (normalized) request, None where a key value is missing;
        built one join key at a time over all requests (serving's batch path)."""
        parts = []
        for name in self.join_keys:
            if name in self.derived:
                derive = self.derived[name].python
                values = [derive(r) for r in requests]
            else:
                values = [r.get(name) for r in requests]
            parts.append(
                [v if type(v) is str else None if v is None else format_key_part(v) for v in values]
            )
        if len(parts) == 1:
            return parts[0]
        return [None if None in p else "|".join(p) for p in zip(*parts, strict=True)]


@dataclass(frozen=True)
class Feature:
    """One model input: its name, dtype and meaning."""

    name: str
    dtype: Dtype
    description: str

    @property
    def categorical(self) -> bool:
        return self.dtype == "string"


@dataclass(frozen=True)
class DerivedFeature:
    """A feature computed from a stored column and the feature time, identically on both paths.

    ``fn(stored_value, feature_time_year)`` must work element-wise on numpy arrays (offline) and on
    plain floats (online); None/NaN inputs give NaN/None.
    """

    feature: Feature
    stored: str
    fn: Callable[[Any, Any], Any]


@dataclass(frozen=True)
class FeatureView:
    """A group of features sharing an entity, a source, an event time and a TTL.

    Its offline table is ``features.<name>`` (one Dagster asset), with the entity's join keys,
    ``event_timestamp`` (when the values became known: never before the data behind them was
    available), the stored columns and ``computed_at`` (drives incremental materialization).
    """

    name: str
    kind: ViewKind
    entity: Entity
    description: str
    sources: tuple[str, ...]  # raw asset keys it reads
    event_time: str  # what event_timestamp means, for the docs
    ttl: dt.timedelta | None
    stored: tuple[Feature, ...]  # columns of the table that are served as-is
    derived: tuple[DerivedFeature, ...] = ()
    hidden: tuple[Feature, ...] = ()  # stored inputs of derived features, not model inputs
    partitioned: bool = True
    has_valid_to: bool = False  # SCD2: the value stops being valid at valid_to
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def table(self) -> str:
        return f"features.{self.name}"

    @property
    def columns(self) -> tuple[Feature, ...]:
        """Stored value columns, in table (and online payload) order."""
        return self.stored + self.hidden

    @property
    def features(self) -> tuple[Feature, ...]:
        """Model inputs this view provides."""
        return self.stored + tuple(d.feature for d in self.derived)


@dataclass(frozen=True)
class OnDemandView:
    """Features that depend on the request time, computed at request time from a day's state.

    Nothing is stored per value: online, the stream processor keeps each entity's day table
    (its flights, and their departures as they become known) and serving computes the features
    at the request's moment; offline, the training set builds the same day tables from the raw
    events and computes them at each row's moment, with the same function (``compute``, in
    ``features/intraday.py``). Windows and thresholds are data (``params``).
    """

    name: str
    entity: str  # the request field whose value (with the local day) keys the day table
    features: tuple[Feature, ...]
    description: str
    compute: str  # the entity kind in ``intraday.COMPUTE``
    params: Mapping[str, Any] = field(default_factory=dict)
    ttl: dt.timedelta | None = None  # how long the online store keeps a day table


@dataclass(frozen=True)
class FeatureService:
    """The features one model version consumes, in model input order (Feast's FeatureService)."""

    name: str
    views: tuple[FeatureView, ...]
    request: tuple[Feature, ...]
    description: str = ""
    on_demand: tuple[OnDemandView, ...] = ()

    @property
    def features(self) -> list[Feature]:
        out = list(self.request)
        for view in self.views:
            out.extend(view.features)
        for on_demand in self.on_demand:
            out.extend(on_demand.features)
        return out

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def categorical_features(self) -> list[str]:
        return [f.name for f in self.features if f.categorical]
