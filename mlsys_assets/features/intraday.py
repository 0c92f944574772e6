"""Intraday features: what has happened at the airport today, known strictly before t.

One definition, used online and offline. A *day table* holds one entity's flights of one local
day (an origin's, a carrier's or an aircraft's): scheduled departure, actual departure and the
moment mlsys could know it (``known``: the later of the actual departure and its event's
availability; never, for a flight that has not left or whose event has not arrived). The
functions below compute every intraday feature of a day table for many query times at once, as
numpy arrays: serving calls them with one query time (the request's), the training set with all
the query times of the group. A departure counts at t only if it was *known* before t
(bitemporal), so a late event never leaks into a training row that could not have seen it.

* origin, over a window W before t (2 h, 4 h): flights scheduled in [t - W, t) and their delay so
  far, counting a flight that has not left by t with t - scheduled as a lower bound ("censored
  delay"); the share 15+ minutes late by that measure; how many are still waiting.
* carrier, today: the share of its departures known by t that left 15+ minutes late, their mean
  delay, how many.
* aircraft, today: its previous NYC departure known by t: that departure's delay and the
  minutes since it left.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left
from dataclasses import dataclass

import numpy as np

US_PER_MINUTE = 60_000_000
NEVER = np.iinfo(np.int64).max  # "known" of a flight not (yet) known to have left
LATE_MINUTES = 15
ORIGIN_WINDOWS: tuple[dt.timedelta, ...] = (dt.timedelta(hours=2), dt.timedelta(hours=4))


def window_label(window: dt.timedelta) -> str:
    return f"{int(window.total_seconds() // 3600)}h"


@dataclass(frozen=True)
class DayFlights:
    """Flights of many day tables at once (``group``: which table), int64 microseconds."""

    group: np.ndarray
    scheduled: np.ndarray
    actual: np.ndarray  # NEVER when it has not left
    known: np.ndarray  # when mlsys could know it left: max(actual, available); NEVER if not

    @classmethod
    def build(cls, group, scheduled, actual, available) -> DayFlights:  # noqa: ANN001 - arrays
        """From per-flight arrays (``NEVER`` where there is no actual/available time)."""
        group = np.asarray(group, dtype=np.int64)
        scheduled = np.asarray(scheduled, dtype=np.int64)
        actual = np.asarray(actual, dtype=np.int64)
        available = np.asarray(available, dtype=np.int64)
        known = np.where(actual == NEVER, NEVER, np.maximum(actual, available))
        return cls(group, scheduled, actual, known)


_ROOM = 38  # bits for a time within its table (2**38 us = 3.2 days): a table spans under two days


def _keyed(
    group: np.ndarray, value: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sort by (group, value) and key each row as one int64: the group in the high bits, the
    value's offset from its group's first value in the low ones. Returns the order, the keys,
    the distinct groups and each group's base."""
    order = np.lexsort((value, group))
    g, v = group[order], value[order]
    groups, first = np.unique(g, return_index=True)
    base = v[first]
    sizes = np.diff(np.append(first, len(g)))
    keys = (g << _ROOM) + (v - np.repeat(base, sizes))
    return order, keys, groups, base


def _query_keys(groups: np.ndarray, base: np.ndarray, group: np.ndarray, at: np.ndarray):  # noqa: ANN202
    """The keys of queries (group, at) in the same space; a group with no rows keys at 0."""
    if len(groups) == 0:
        return group << _ROOM, group << _ROOM
    pos = np.minimum(np.searchsorted(groups, group), len(groups) - 1)
    has = groups[pos] == group
    offset = np.where(has, np.clip(at - base[pos], 0, (1 << _ROOM) - 1), 0)
    return (group << _ROOM) + offset, group << _ROOM


class _Intervals:
    """Each flight's interval of query times, (start, end], keyed per table: for many queries,
    the sum of a weight over the intervals of their table that contain their time is two binary
    searches and two prefix sums, however many tables and queries."""

    def __init__(self, flights: DayFlights, group: np.ndarray, at: np.ndarray) -> None:
        # One base per table, at or before every time that matters to it.
        order = np.argsort(flights.group, kind="stable")
        groups, first = np.unique(flights.group[order], return_index=True)
        lowest = np.minimum.reduceat(flights.scheduled[order], first) if len(first) else first
        self._groups, self._base = groups, lowest - 3_600_000_000  # an hour of slack
        self._flight_base = self._base[np.searchsorted(groups, flights.group)]
        pos = np.minimum(np.searchsorted(groups, group), max(len(groups) - 1, 0))
        present = groups[pos] == group if len(groups) else np.zeros(len(group), dtype=bool)
        base = self._base[pos] if len(groups) else np.zeros(len(group), dtype=np.int64)
        self.query_minutes = (at - base) / US_PER_MINUTE  # the query time on its table's axis
        offset = np.where(present, np.clip(at - base, 0, (1 << _ROOM) - 1), 0)
        query = (group << _ROOM) + offset
        # Binary searches of sorted queries walk the keys in order (several times faster than
        # random probes at a year's size); results go back to query order by ``_unsort``.
        self._order = np.argsort(query, kind="stable")
        self._query = query[self._order]
        # Where each query's table starts among the keys: one probe per distinct table.
        self._tables, self._table_of = np.unique((group << _ROOM)[self._order], return_inverse=True)
        self._unsort = np.empty_like(self._order)
        self._unsort[self._order] = np.arange(len(self._order))
        self.flight_group = flights.group
        self.flight_minutes = (flights.scheduled - self._flight_base) / US_PER_MINUTE

    def _keys(self, values: np.ndarray, rows: np.ndarray) -> np.ndarray:
        offset = np.clip(values[rows] - self._flight_base[rows], 0, (1 << _ROOM) - 1)
        return (self.flight_group[rows] << _ROOM) + offset

    def stab(
        self, start: np.ndarray, end: np.ndarray, weights: list[np.ndarray], rows: np.ndarray
    ) -> list[np.ndarray]:
        """Per query and weight: the sum over ``rows`` whose start < at <= end (same table)."""
        out = []
        sums = []
        for values in (start, end):
            keys = self._keys(values, rows)
            order = np.argsort(keys, kind="stable")
            keys = keys[order]
            hit = np.searchsorted(keys, self._query, side="left")
            first = np.searchsorted(keys, self._tables, side="left")[self._table_of]
            sums.append((order, hit, first))
        for weight in weights:
            total = np.zeros(len(self._query))
            for sign, (order, hit, first) in zip((1.0, -1.0), sums, strict=True):
                cumulative = np.concatenate([[0.0], np.cumsum(weight[rows][order])])
                total += sign * (cumulative[hit] - cumulative[first])
            out.append(total[self._unsort])
        return out


MATRIX_CELLS = 200_000  # up to this many (query, flight) pairs: the direct matrix is faster


def origin_features(
    flights: DayFlights, group: np.ndarray, at: np.ndarray
) -> dict[str, np.ndarray]:
    """The window features of query ``i`` over the flights of table ``group[i]`` at ``at[i]``.

    Two exact implementations of one definition, chosen by size (both are checked against a
    plain reading of it): serving's few queries compare each with its table's flights directly
    (``_origin_matrix``); a training set's hundreds of thousands count intervals
    (``_origin_intervals``).
    """
    group, at = np.asarray(group, dtype=np.int64), np.asarray(at, dtype=np.int64)
    if len(at) * len(flights.group) <= MATRIX_CELLS:
        return _origin_matrix(flights, group, at)
    return _origin_intervals(flights, group, at)


def _empty_origin(m: int) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for w in ORIGIN_WINDOWS:
        label = window_label(w)
        out[f"origin_dep_delay_so_far_{label}"] = np.full(m, np.nan)
        out[f"origin_late_share_so_far_{label}"] = np.full(m, np.nan)
        out[f"origin_waiting_{label}"] = np.zeros(m)
        out[f"origin_scheduled_{label}"] = np.zeros(m)
    return out


def _origin_matrix(flights: DayFlights, group: np.ndarray, at: np.ndarray) -> dict[str, np.ndarray]:
    """Each query against every flight of its table, as a (queries x flights) matrix."""
    out = _empty_origin(len(at))
    single = len(group) > 0 and not (group != group[0]).any()
    for g in group[:1] if single else np.unique(group):
        chunk = np.arange(len(at)) if single else np.flatnonzero(group == g)
        rows = flights.group == g
        if not rows.any():
            continue
        s, a, k = flights.scheduled[rows], flights.actual[rows], flights.known[rows]
        t = at[chunk][:, None]
        known = k[None, :] < t
        delay = np.where(known, a[None, :] - s[None, :], t - s[None, :]) / US_PER_MINUTE
        late = delay >= LATE_MINUTES
        before = s[None, :] < t
        for w in ORIGIN_WINDOWS:
            label = window_label(w)
            inside = before & (s[None, :] >= t - int(w.total_seconds() * 1_000_000))
            count = inside.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[f"origin_dep_delay_so_far_{label}"][chunk] = (
                    np.where(inside, delay, 0.0).sum(axis=1) / count
                )
                late_share = (inside & late).sum(axis=1) / count
                out[f"origin_late_share_so_far_{label}"][chunk] = late_share
            out[f"origin_waiting_{label}"][chunk] = (inside & ~known).sum(axis=1)
            out[f"origin_scheduled_{label}"][chunk] = count
    return out


def _origin_intervals(
    flights: DayFlights, group: np.ndarray, at: np.ndarray
) -> dict[str, np.ndarray]:
    """The same features by counting intervals.

    A flight is inside a window of query time t when t is in (s, s + W]; inside and known to
    have left when t is in (max(s, known), s + W]; still waiting and already 15 minutes late
    when t is in [s + 15 min, min(s + W, known)]. So every count and sum below is a count or
    a weighted count of the intervals containing t (``_Intervals``), computed for all queries
    at once, exactly (integer microseconds; a departure known at t does not count at t).
    """
    m = len(at)
    if m == 0 or len(flights.group) == 0:
        return _empty_origin(m)
    out: dict[str, np.ndarray] = {}
    iv = _Intervals(flights, group, at)
    s, k = flights.scheduled, flights.known
    ones = np.ones(len(s))
    delay = np.where(k != NEVER, (flights.actual - s) / US_PER_MINUTE, 0.0)
    left_late = (delay >= LATE_MINUTES).astype(np.float64)
    every = np.arange(len(s))
    late_after = s + LATE_MINUTES * US_PER_MINUTE - 1  # t > this  <=>  t - s >= 15 min
    for w in ORIGIN_WINDOWS:
        label = window_label(w)
        closes = s + int(w.total_seconds() * 1_000_000)
        n_in, s_in = iv.stab(s, closes, [ones, iv.flight_minutes], every)
        known_from = np.maximum(s, k)
        gone = np.flatnonzero(known_from < closes)
        n_gone, d_gone, l_gone, s_gone = iv.stab(
            known_from, closes, [ones, delay, left_late, iv.flight_minutes], gone
        )
        waits_until = np.minimum(closes, k)
        waiting_late = np.flatnonzero(late_after < waits_until)
        (n_waiting_late,) = iv.stab(late_after, waits_until, [ones], waiting_late)
        waiting = n_in - n_gone
        censored = d_gone + iv.query_minutes * waiting - (s_in - s_gone)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"origin_dep_delay_so_far_{label}"] = np.where(n_in > 0, censored / n_in, np.nan)
            out[f"origin_late_share_so_far_{label}"] = np.where(
                n_in > 0, (l_gone + n_waiting_late) / n_in, np.nan
            )
        out[f"origin_waiting_{label}"] = np.rint(waiting)
        out[f"origin_scheduled_{label}"] = np.rint(n_in)
    return out


def _known_departures(
    flights: DayFlights, group: np.ndarray, at: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For the flights known to have left, sorted by (table, known): their delay (minutes) and
    actual departure; and per query the range [start, end) of its table's departures known
    strictly before its ``at``."""
    left = flights.known != NEVER
    order, keys, groups, base = _keyed(flights.group[left], flights.known[left])
    delay = ((flights.actual[left] - flights.scheduled[left]) / US_PER_MINUTE)[order]
    actual = flights.actual[left][order]
    at_key, first_key = _query_keys(groups, base, group, at)
    end = _sorted_search(keys, at_key)  # known < at (offset 0 is the base itself)
    start = _sorted_search(keys, first_key)
    return delay, actual, start, end


def _sorted_search(keys: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """``np.searchsorted(keys, queries, side="left")``, probing in sorted order (much faster on
    large arrays: the probes walk the keys instead of jumping around memory)."""
    order = np.argsort(queries, kind="stable")
    found = np.empty(len(queries), dtype=np.int64)
    found[order] = np.searchsorted(keys, queries[order], side="left")
    return found


def _one_table(flights: DayFlights, group: np.ndarray, at: np.ndarray):  # noqa: ANN202
    """For a few queries of one table (serving): that table's departures known before each
    query, as a (queries x departures) mask, with their delay and actual time; else None."""
    if len(at) > 64 or len(group) == 0 or (group != group[0]).any():
        return None
    rows = (flights.group == group[0]) & (flights.known != NEVER)
    k, a, s = flights.known[rows], flights.actual[rows], flights.scheduled[rows]
    return k[None, :] < at[:, None], (a - s) / US_PER_MINUTE, a


def carrier_features(
    flights: DayFlights, group: np.ndarray, at: np.ndarray
) -> dict[str, np.ndarray]:
    """Per query: the departures of its table known strictly before ``at`` (prefix sums over
    the tables' departures in known order, so any number of tables costs one sort; a few
    queries of one table compare directly)."""
    group, at = np.asarray(group, dtype=np.int64), np.asarray(at, dtype=np.int64)
    small = _one_table(flights, group, at)
    if small is not None:
        known, d, _ = small
        count = known.sum(axis=1).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return {
                "carrier_today_late_share": (known & (d >= LATE_MINUTES)).sum(axis=1) / count,
                "carrier_today_dep_delay": np.where(known, d, 0.0).sum(axis=1) / count,
                "carrier_today_departed": count,
            }
    delay, _, start, end = _known_departures(flights, group, at)
    late = np.concatenate([[0.0], np.cumsum(delay >= LATE_MINUTES)])
    total = np.concatenate([[0.0], np.cumsum(delay)])
    count = (end - start).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = (late[end] - late[start]) / count
        mean = (total[end] - total[start]) / count
    return {
        "carrier_today_late_share": share,
        "carrier_today_dep_delay": mean,
        "carrier_today_departed": count,
    }


def plane_features(flights: DayFlights, group: np.ndarray, at: np.ndarray) -> dict[str, np.ndarray]:
    """Per query: the aircraft's most recent departure known before ``at``: its delay and the
    minutes since it left."""
    group, at = np.asarray(group, dtype=np.int64), np.asarray(at, dtype=np.int64)
    small = _one_table(flights, group, at)
    if small is not None:
        known, d, a = small
        out_delay, out_ago = np.full(len(at), np.nan), np.full(len(at), np.nan)
        k = flights.known[(flights.group == group[0]) & (flights.known != NEVER)]
        for i in np.flatnonzero(known.any(axis=1)):
            # the most recently known; on a tie, the last of them in known order (as below)
            candidates = np.flatnonzero(known[i])
            order = np.lexsort((candidates, k[candidates]))
            j = candidates[order[-1]]
            out_delay[i], out_ago[i] = d[j], (at[i] - a[j]) / US_PER_MINUTE
        return {"plane_prev_dep_delay": out_delay, "plane_prev_minutes_ago": out_ago}
    delay, actual, start, end = _known_departures(flights, group, at)
    previous = end - 1
    found = previous >= start
    out_delay, out_ago = np.full(len(at), np.nan), np.full(len(at), np.nan)
    out_delay[found] = delay[previous[found]]
    out_ago[found] = (at[found] - actual[previous[found]]) / US_PER_MINUTE
    return {"plane_prev_dep_delay": out_delay, "plane_prev_minutes_ago": out_ago}


COMPUTE = {
    # the intraday entity -> (the request field that keys it, the function)
    "origin": ("origin", origin_features),
    "carrier": ("carrier", carrier_features),
    "plane": ("tailnum", plane_features),
}


class PreparedTable:
    """One day table made ready for single queries: serving's path.

    A request asks about one flight at one moment, and numpy's fixed cost per call dominates
    the array functions above at that size (about 0.05 ms per view). Sorted once when the table
    is decoded (the online lookup caches it with the payload), each query is then a few binary
    searches: the origin's flights by scheduled time (a window is a slice), the departures by
    the time they became known with prefix sums (the carrier's "so far" is a prefix, the
    aircraft's previous departure its last element). A third exact implementation of the same
    definitions, checked against them by the tests.
    """

    __slots__ = (
        "_a",
        "_k",
        "_s",
        "_s_list",
        "actual",
        "available",
        "cum_delay",
        "cum_late",
        "dep_actual",
        "dep_delay",
        "dep_known",
        "scheduled",
    )

    def __init__(self, scheduled, actual, available) -> None:  # noqa: ANN001 - int64 arrays
        self.scheduled = s = np.asarray(scheduled, dtype=np.int64)
        self.actual = a = np.asarray(actual, dtype=np.int64)
        self.available = np.asarray(available, dtype=np.int64)
        known = np.where(a == NEVER, NEVER, np.maximum(a, self.available))
        by_scheduled = np.argsort(s, kind="stable")
        self._s, self._a, self._k = s[by_scheduled], a[by_scheduled], known[by_scheduled]
        self._s_list = self._s.tolist()
        left = np.flatnonzero(known != NEVER)
        order = left[np.argsort(known[left], kind="stable")]  # ties: table order, as above
        delay = (a[order] - s[order]) / US_PER_MINUTE
        self.dep_known = known[order].tolist()
        self.dep_delay = delay.tolist()
        self.dep_actual = a[order].tolist()
        self.cum_late = [0, *np.cumsum(delay >= LATE_MINUTES).tolist()]
        self.cum_delay = [0.0, *np.cumsum(delay).tolist()]

    def origin(self, t: int) -> dict[str, float]:
        end = bisect_left(self._s_list, t)  # scheduled < t
        widest = max(ORIGIN_WINDOWS)
        first = bisect_left(self._s_list, t - int(widest.total_seconds() * 1_000_000))
        s, a, k = self._s[first:end], self._a[first:end], self._k[first:end]
        known = k < t
        delay = np.where(known, a - s, t - s) / US_PER_MINUTE
        late = (delay >= LATE_MINUTES).tolist()
        delays, waiting = delay.tolist(), (~known).tolist()
        out: dict[str, float] = {}
        for w in ORIGIN_WINDOWS:
            label = window_label(w)
            j = bisect_left(self._s_list, t - int(w.total_seconds() * 1_000_000)) - first
            count = end - first - j
            out[f"origin_dep_delay_so_far_{label}"] = sum(delays[j:]) / count if count else np.nan
            out[f"origin_late_share_so_far_{label}"] = sum(late[j:]) / count if count else np.nan
            out[f"origin_waiting_{label}"] = float(sum(waiting[j:]))
            out[f"origin_scheduled_{label}"] = float(count)
        return out

    def carrier(self, t: int) -> dict[str, float]:
        n = bisect_left(self.dep_known, t)  # known strictly before t
        return {
            "carrier_today_late_share": self.cum_late[n] / n if n else np.nan,
            "carrier_today_dep_delay": self.cum_delay[n] / n if n else np.nan,
            "carrier_today_departed": float(n),
        }

    def plane(self, t: int) -> dict[str, float]:
        i = bisect_left(self.dep_known, t) - 1
        if i < 0:
            return {"plane_prev_dep_delay": np.nan, "plane_prev_minutes_ago": np.nan}
        return {
            "plane_prev_dep_delay": self.dep_delay[i],
            "plane_prev_minutes_ago": (t - self.dep_actual[i]) / US_PER_MINUTE,
        }


PREPARED = {
    # the intraday entity -> its single-query method
    "origin": PreparedTable.origin,
    "carrier": PreparedTable.carrier,
    "plane": PreparedTable.plane,
}
