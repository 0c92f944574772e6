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
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

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
TOP = (1 << _ROOM) - 1  # the last instant of a table's room: where "never" sits
MAX_TABLES = 1 << (63 - _ROOM)


def offsets(times: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Times as offsets from their table's base, clipped into the room (``NEVER``: ``TOP``)."""
    out = times - base
    np.clip(out, 0, TOP, out=out)
    out[times == NEVER] = TOP
    return out


class Timeline:
    """The flights and queries of many day tables on one sortable int64 line.

    A point is ``table << 38 | time since the table's base``, so two points of one table
    compare as their times and every point of a lower table lies below every point of a higher
    one. "How many flights of my table have x < t" is then one binary search of the sorted x
    for the query's point, minus the flights of the lower tables (``start``); a count of
    intervals (a, b] is #(a < t) - #(max(a, b) < t), two searches in which the lower tables
    cancel. The flights are sorted by (table, scheduled) and the queries by (table, at), equal
    queries once: every other quantity is then nearly sorted (scheduled plus a delay), which
    the stable sort (timsort) orders in a few linear passes, and sorted probes walk the keys in
    order. So a year of queries costs tens of milliseconds, not the seconds of a loop per table
    or of random probes.

    Built from per-flight and per-query table indices (below ``MAX_TABLES``) and ``offsets``;
    ``flight_order``/``query_order`` are permutations the caller expects to sort them (cheaper
    for it to find), checked and replaced by a sort when they do not. The flights' given order
    breaks ties of known times (the definition's "last of them").
    """

    def __init__(
        self,
        flight_table: np.ndarray,
        flight: Mapping[str, np.ndarray],
        query_table: np.ndarray,
        at_offset: np.ndarray,
        at_minutes: np.ndarray,
        n_tables: int,
        *,
        flight_order: np.ndarray | None = None,
        query_order: np.ndarray | None = None,
    ) -> None:
        # flight: offsets "scheduled", "known", "actual"; float minutes "delay" (0 where it
        # has not left) and "minutes" (of scheduled since its table's base)
        self._flight = flight
        points = flight_table << _ROOM
        points |= flight["scheduled"]
        self._order, self.scheduled = _sorting(points, flight_order)
        del points
        self._floors = self.scheduled & ~TOP  # each flight's table << _ROOM, in that order
        q_points = query_table << _ROOM
        q_points |= at_offset
        by_at, q_sorted = _sorting(q_points, query_order)
        del q_points
        # equal queries (same table, same moment: a bank of departures) are answered once
        first = np.empty(len(q_sorted), dtype=bool)
        first[:1] = True
        np.not_equal(q_sorted[1:], q_sorted[:-1], out=first[1:])
        distinct = np.flatnonzero(first)
        self.at = q_sorted[distinct]
        chosen = by_at[distinct]
        del distinct
        self.floor = self.at & ~TOP  # table << _ROOM
        # the flights of the lower tables, and whether the query's own has any (else it has no
        # day table)
        if n_tables <= len(self.scheduled):
            counts = np.bincount(flight_table, minlength=n_tables)
            table = self.at >> _ROOM  # query_table of the distinct queries
            self.start = (np.cumsum(counts) - counts)[table]
            self.has_flights = counts[table] > 0
        elif len(self.scheduled):  # many tables (aircraft-days): probe the sorted tables
            self.start = np.searchsorted(self._floors, self.floor, side="left")
            last = len(self._floors) - 1
            found = self._floors[np.minimum(self.start, last)] == self.floor
            self.has_flights = (self.start <= last) & found
        else:
            self.start = np.zeros(len(self.at), dtype=np.int64)
            self.has_flights = np.zeros(len(self.at), dtype=bool)
        self.at_minutes = at_minutes[chosen]
        self._back = np.empty(len(by_at), dtype=np.int64)  # caller's query -> distinct query
        rank = np.cumsum(first, out=q_sorted)  # (q_sorted is not needed any more)
        rank -= 1
        self._back[by_at] = rank

    def answer(self, values: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Per distinct query values, back in the caller's query order (into ``out``, e.g. a
        row of the caller's output block, when given)."""
        return np.take(values, self._back, out=out, mode="clip")  # in range; "raise" buffers

    def answers(self, values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``answer`` for each feature of a ``*_on_timeline`` result."""
        return {name: self.answer(column) for name, column in values.items()}

    def _sorted(self, name: str) -> np.ndarray:
        return self._flight[name][self._order]

    @cached_property
    def known(self) -> np.ndarray:
        """When each flight became known to have left (its table's top if never)."""
        known = self._sorted("known")
        known |= self._floors
        return known

    @cached_property
    def actual(self) -> np.ndarray:
        actual = self._sorted("actual")
        actual |= self._floors
        return actual

    @cached_property
    def delay(self) -> np.ndarray:
        return self._sorted("delay")

    @cached_property
    def minutes(self) -> np.ndarray:
        return self._sorted("minutes")

    def known_order(self) -> np.ndarray:
        """The flights by known time; equal times in their given order (the definition's tie)."""
        order = self._order
        same = self._floors[1:] == self._floors[:-1]
        if np.all((order[1:] > order[:-1]) | ~same):  # the given order within each table
            return np.argsort(self.known, kind="stable")
        return np.lexsort((order, self.known))

    @classmethod
    def of_groups(cls, flights: DayFlights, group: np.ndarray, at: np.ndarray) -> Timeline:
        """For arbitrary table ids (``group``): each table's base is an hour before its first
        scheduled flight."""
        ids, index = np.unique(np.concatenate([flights.group, group]), return_inverse=True)
        index = index.astype(np.int64)
        n = len(flights.group)
        lowest = np.full(len(ids), np.iinfo(np.int64).max)
        np.minimum.at(lowest, index[:n], flights.scheduled)
        bases = np.where(lowest == np.iinfo(np.int64).max, 0, lowest - 3_600 * 1_000_000)
        base, q_base = bases[index[:n]], bases[index[n:]]
        left = flights.actual != NEVER
        flight = {
            "scheduled": offsets(flights.scheduled, base),
            "known": offsets(flights.known, base),
            "actual": offsets(flights.actual, base),
            "delay": np.where(left, (flights.actual - flights.scheduled) / US_PER_MINUTE, 0.0),
            "minutes": (flights.scheduled - base) / US_PER_MINUTE,
        }
        at_minutes = (at - q_base) / US_PER_MINUTE
        return cls(index[:n], flight, index[n:], offsets(at, q_base), at_minutes, len(ids))


def _sorting(points: np.ndarray, order: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """A stable sorting permutation of ``points`` (``order`` when it sorts them), and the
    sorted points."""
    if order is not None:
        ranked = points[order]
        if np.all(ranked[1:] >= ranked[:-1]):
            return order, ranked
    order = np.argsort(points, kind="stable")
    return order, points[order]


def _below(sorted_points: np.ndarray, points: np.ndarray) -> np.ndarray:
    """How many of ``sorted_points`` are below each of ``points`` (sorted too).

    Few keys: each key's place among the points, then a running count (one probe per key,
    not per point). Fewer keys than points: one stable merge of the two sorted runs (timsort
    gallops through the long stretches of points between two keys), each point's place in it
    minus the points before it. Else a binary search per point."""
    if 8 * len(sorted_points) < len(points):
        places = np.searchsorted(points, sorted_points, side="right")
        return np.cumsum(np.bincount(places, minlength=len(points) + 1))[: len(points)]
    if 2 * len(sorted_points) < len(points):
        # the points first: a key equal to a point sorts after it (only keys below count)
        merged = np.argsort(np.concatenate([points, sorted_points]), kind="stable")
        place = np.flatnonzero(merged < len(points))
        place -= np.arange(len(points))
        return place
    return np.searchsorted(sorted_points, points, side="left")


def _sums(weights: list[np.ndarray], order: np.ndarray | None = None) -> list[np.ndarray]:
    """Prefix sums (with a leading 0) of each of ``weights``, taken in ``order``."""
    out = []
    for values in weights:
        sums = np.empty(len(values) + 1)
        sums[0] = 0.0
        np.cumsum(values if order is None else values[order], out=sums[1:])
        out.append(sums)
    return out


def _count(mask: np.ndarray) -> np.ndarray:
    """Prefix counts (with a leading 0) of a boolean mask."""
    counts = np.empty(len(mask) + 1, dtype=np.int64)
    counts[0] = 0
    np.cumsum(mask, out=counts[1:])
    return counts


def origin_on_timeline(tl: Timeline) -> dict[str, np.ndarray]:
    """The window features of every distinct query of the timeline (``tl.answers`` puts
    them in the caller's order), by counting intervals on it.

    A flight is inside a window of query time t when t is in (s, s + W]; inside and known to
    have left when t is in (max(s, known), s + W]; still waiting and already 15 minutes late
    when t is in [s + 15 min, min(s + W, known)]. So every count and sum below is a (weighted)
    count of intervals containing t, exactly (integer microseconds; a departure known at t
    does not count at t). Where an interval's end is mostly a shift of ``s`` (sorted), only
    the few flights for which it is not are searched apart.
    """
    s, k, at, floor = tl.scheduled, tl.known, tl.at, tl.floor
    late_us = LATE_MINUTES * US_PER_MINUTE
    known_from = np.maximum(s, k)
    # what a departure adds once known: its delay, late or not, its scheduled minutes
    weights = [tl.delay, (tl.delay >= LATE_MINUTES).astype(np.float64), tl.minutes]
    by_known = np.argsort(known_from, kind="stable")
    n_known = _below(known_from[by_known], at)
    known_sums = [sums[n_known] for sums in _sums(weights, by_known)]
    del by_known
    scheduled_sums = _sums(weights)  # in scheduled order
    n_before = _below(s, at)
    # t > s + 15 min - 1 us  <=>  t - s >= 15 min
    n_late_start = _below(s, _shifted(at, -(late_us - 1), floor))
    early = k <= s + (late_us - 1)  # known to have left before it was 15 minutes late
    n_late_start_early = _count(early)[n_late_start]
    n_late_start -= n_late_start_early  # only the flights still waiting then from here on
    del n_late_start_early
    s_before = scheduled_sums[2][n_before]
    out: dict[str, np.ndarray] = {}
    for w in ORIGIN_WINDOWS:
        label = window_label(w)
        width = int(w.total_seconds() * 1_000_000)
        closes = s + width
        n_closed = _below(s, _shifted(at, -width, floor))  # s + W < t
        n_in = (n_before - n_closed).astype(np.float64)
        s_in = s_before - scheduled_sums[2][n_closed]
        # gone: #(known_from < t) - #(max(known_from, closes) < t), and the latter is
        # #(closes < t) but for the flights known only after their window closed
        after = np.flatnonzero(known_from > closes)
        after_known = known_from[after]
        by_after_known = np.argsort(after_known, kind="stable")
        c_closes = _below(closes[after], at)
        c_known = _below(after_known[by_after_known], at)
        w_after = [x[after] for x in weights]
        d_gone, l_gone, s_gone = (
            _gone(known, closed, n_closed, a_closes, c_closes, a_known, c_known)
            for known, closed, a_closes, a_known in zip(
                known_sums,
                scheduled_sums,
                _sums(w_after),
                _sums(w_after, by_after_known),
                strict=True,
            )
        )
        n_gone = n_known - n_closed
        n_gone += c_closes
        n_gone -= c_known
        del c_closes, c_known
        # waiting and late: #(late_start < t) - #(max(late_start, min(closes, known)) < t);
        # that max is late_start (known by then), closes (not known before) or known
        unknown = k >= closes
        del closes
        between = np.sort(k[~(early | unknown)], kind="stable")  # nearly sorted: timsort
        n_waiting_late = n_late_start - _count(unknown)[n_closed]
        del unknown, n_closed
        n_waiting_late -= _below(between, at)
        waiting = n_in - n_gone
        del n_gone
        # censored delay: d_gone + t * waiting - (s_in - s_gone), in that order of operations
        censored = tl.at_minutes * waiting
        censored += d_gone
        s_in -= s_gone
        censored -= s_in
        del d_gone, s_gone, s_in
        l_gone += n_waiting_late
        del n_waiting_late
        with np.errstate(invalid="ignore", divide="ignore"):
            censored /= n_in
            l_gone /= n_in
        empty = ~(n_in > 0)
        censored[empty] = np.nan
        l_gone[empty] = np.nan
        out[f"origin_dep_delay_so_far_{label}"] = censored
        out[f"origin_late_share_so_far_{label}"] = l_gone
        out[f"origin_waiting_{label}"] = waiting
        out[f"origin_scheduled_{label}"] = n_in
    return out


def _shifted(at: np.ndarray, shift: int, floor: np.ndarray) -> np.ndarray:
    """``max(at + shift, floor)``: a query point moved within its table (never below it)."""
    moved = at + shift
    np.maximum(moved, floor, out=moved)
    return moved


def _gone(
    known: np.ndarray,
    closed: np.ndarray,
    n_closed: np.ndarray,
    a_closes: np.ndarray,
    c_closes: np.ndarray,
    a_known: np.ndarray,
    c_known: np.ndarray,
) -> np.ndarray:
    """``known - closed[n_closed] + a_closes[c_closes] - a_known[c_known]``, left to right,
    in one array."""
    gone = known - closed[n_closed]
    gone += a_closes[c_closes]
    gone -= a_known[c_known]
    return gone


def _known_before(tl: Timeline) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The flights by known time, and per query the range [start, end) of its table's
    departures known strictly before its time."""
    order = tl.known_order()
    return order, tl.start, _below(tl.known[order], tl.at)


def carrier_on_timeline(tl: Timeline) -> dict[str, np.ndarray]:
    """The departures of each distinct query's table known strictly before it: prefix sums
    over the departures in known order."""
    order, start, end = _known_before(tl)
    late, delay = _sums([(tl.delay >= LATE_MINUTES).astype(np.float64), tl.delay], order)
    count = (end - start).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = (late[end] - late[start]) / count
        mean = (delay[end] - delay[start]) / count
    return {
        "carrier_today_late_share": share,
        "carrier_today_dep_delay": mean,
        "carrier_today_departed": count,
    }


def plane_on_timeline(tl: Timeline) -> dict[str, np.ndarray]:
    """The last departure of each distinct query's table known strictly before it."""
    order, start, end = _known_before(tl)
    previous = order[np.maximum(end - 1, 0)] if len(order) else end
    found = end > start
    delay, ago = np.full(len(tl.at), np.nan), np.full(len(tl.at), np.nan)
    delay[found] = tl.delay[previous[found]]
    ago[found] = (tl.at[found] - tl.actual[previous[found]]) / US_PER_MINUTE
    return {"plane_prev_dep_delay": delay, "plane_prev_minutes_ago": ago}


MATRIX_CELLS = 200_000  # up to this many (query, flight) pairs: the direct matrix is faster


def origin_features(
    flights: DayFlights, group: np.ndarray, at: np.ndarray
) -> dict[str, np.ndarray]:
    """The window features of query ``i`` over the flights of table ``group[i]`` at ``at[i]``.

    Two exact implementations of one definition, chosen by size (both are checked against a
    plain reading of it): serving's few queries compare each with its table's flights directly
    (``_origin_matrix``); a training set's hundreds of thousands count intervals on a
    ``Timeline`` (``origin_on_timeline``).
    """
    group, at = np.asarray(group, dtype=np.int64), np.asarray(at, dtype=np.int64)
    if len(at) * len(flights.group) <= MATRIX_CELLS:
        return _origin_matrix(flights, group, at)
    timeline = Timeline.of_groups(flights, group, at)
    return timeline.answers(origin_on_timeline(timeline))


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
    timeline = Timeline.of_groups(flights, group, at)
    return timeline.answers(carrier_on_timeline(timeline))


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
    timeline = Timeline.of_groups(flights, group, at)
    return timeline.answers(plane_on_timeline(timeline))


COMPUTE = {
    # the intraday entity -> (the request field that keys it, the function)
    "origin": ("origin", origin_features),
    "carrier": ("carrier", carrier_features),
    "plane": ("tailnum", plane_features),
}
ON_TIMELINE = {
    # the intraday entity -> its computation for many queries on a ``Timeline`` (one value
    # per distinct query: ``Timeline.answer`` puts them back in the caller's order)
    "origin": origin_on_timeline,
    "carrier": carrier_on_timeline,
    "plane": plane_on_timeline,
}


class _OriginIndex:
    """An origin's day table as sorted lists with prefix sums, for one query at a time.

    The same interval counts as ``origin_on_timeline``, each by a binary search of a sorted
    list: the flights by scheduled time, by when they became known (``max(s, known)``), and per
    window by when they stop counting as gone-before-t (``max(known, s + W)``) or as waiting
    late (``max(s + 15 min, min(s + W, known))``). Sums are Python integers (microseconds), so
    a query costs about a dozen bisects and no numpy call.
    """

    __slots__ = ("base", "known_from", "known_sums", "scheduled", "scheduled_sum", "windows")

    def __init__(self, s: np.ndarray, a: np.ndarray, k: np.ndarray) -> None:
        left = k != NEVER
        delay = np.where(left, a - s, 0)
        late = (delay >= LATE_MINUTES * US_PER_MINUTE) & left
        by_s = np.argsort(s, kind="stable")
        self.base = int(s.min()) if len(s) else 0  # sums of times from here stay small
        since = s - self.base
        self.scheduled = s[by_s].tolist()
        self.scheduled_sum = [0, *np.cumsum(since[by_s]).tolist()]
        known_from = np.maximum(s, k)
        self.known_from, self.known_sums = self._sorted(known_from, delay, late, since)
        self.windows = []
        for w in ORIGIN_WINDOWS:
            width = int(w.total_seconds() * 1_000_000)
            gone_until, gone_sums = self._sorted(
                np.maximum(known_from, s + width), delay, late, since
            )
            waits_until = np.sort(
                np.maximum(s + LATE_MINUTES * US_PER_MINUTE - 1, np.minimum(s + width, k))
            ).tolist()
            self.windows.append((window_label(w), width, gone_until, gone_sums, waits_until))

    @staticmethod
    def _sorted(key: np.ndarray, *weights: np.ndarray) -> tuple[list[int], list[list[int]]]:
        order = np.argsort(key, kind="stable")
        sums = [[0, *np.cumsum(np.asarray(x, dtype=np.int64)[order]).tolist()] for x in weights]
        return key[order].tolist(), sums

    def features(self, t: int) -> dict[str, float]:
        s = self.scheduled
        n_before = bisect_left(s, t)
        n_late_start = bisect_left(s, t - LATE_MINUTES * US_PER_MINUTE + 1)
        n_known = bisect_left(self.known_from, t)
        known_delay, known_late, known_s = (x[n_known] for x in self.known_sums)
        out: dict[str, float] = {}
        for label, width, gone_until, gone_sums, waits_until in self.windows:
            n_closed = bisect_left(s, t - width)
            n_in = n_before - n_closed
            n_gone_until = bisect_left(gone_until, t)
            n_gone = n_known - n_gone_until
            gone_delay = known_delay - gone_sums[0][n_gone_until]
            gone_late = known_late - gone_sums[1][n_gone_until]
            gone_s = known_s - gone_sums[2][n_gone_until]
            waiting = n_in - n_gone
            if n_in:
                # the waiting flights' censored delay: t - s each, summed exactly
                s_waiting = self.scheduled_sum[n_before] - self.scheduled_sum[n_closed] - gone_s
                censored = gone_delay + (t - self.base) * waiting - s_waiting
                waiting_late = n_late_start - bisect_left(waits_until, t)
                delay = censored / US_PER_MINUTE / n_in
                share = (gone_late + waiting_late) / n_in
            else:
                delay = share = np.nan
            out[f"origin_dep_delay_so_far_{label}"] = delay
            out[f"origin_late_share_so_far_{label}"] = share
            out[f"origin_waiting_{label}"] = float(waiting)
            out[f"origin_scheduled_{label}"] = float(n_in)
        return out


class PreparedTable:
    """One day table made ready for single queries: serving's path.

    A request asks about one flight at one moment, and numpy's fixed cost per call dominates
    the array functions above at that size (about 0.05 ms per view). Sorted once when the table
    is decoded (the online lookup caches it with the payload), each query is then a few binary
    searches: the origin's window counts on sorted lists with prefix sums (``_OriginIndex``,
    built on the first origin query), the departures by the time they became known with
    prefix sums (the carrier's "so far" is a prefix, the aircraft's previous departure its
    last element). A third exact implementation of the same definitions, checked against them
    by the tests.
    """

    __slots__ = (
        "_known",
        "_origin",
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
        self._known = known = np.where(a == NEVER, NEVER, np.maximum(a, self.available))
        self._origin: _OriginIndex | None = None
        left = np.flatnonzero(known != NEVER)
        order = left[np.argsort(known[left], kind="stable")]  # ties: table order, as above
        delay = (a[order] - s[order]) / US_PER_MINUTE
        self.dep_known = known[order].tolist()
        self.dep_delay = delay.tolist()
        self.dep_actual = a[order].tolist()
        self.cum_late = [0, *np.cumsum(delay >= LATE_MINUTES).tolist()]
        self.cum_delay = [0.0, *np.cumsum(delay).tolist()]

    def origin(self, t: int) -> dict[str, float]:
        if self._origin is None:
            self._origin = _OriginIndex(self.scheduled, self.actual, self._known)
        return self._origin.features(t)

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
