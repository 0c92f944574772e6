"""The stream processor's intraday state: each on-demand view's day tables, kept current.

A day table (``features/day_tables.py``) lists one entity's flights of one local day with their
scheduled departure and, once the departure event arrived, the actual departure and when it was
published. The schedule (published a day ahead) creates the rows; each departure event fills
one row in each view's table (the origin's, the carrier's, the aircraft's). Tables live in
memory and are written to the online store as one payload per key after each batch; a
restarted processor reads a table back from the store the first time it touches it, so a crash
loses nothing that was written (and the stream redelivers what was not).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pandas as pd

from mlsys_assets.features.day_tables import decode_table, encode_table, state_key_text
from mlsys_assets.features.intraday import NEVER
from mlsys_assets.features.spec import OnDemandView
from mlsys_assets.resources.online_store import OnlineRow, OnlineStore


class _Table:
    """One day table in memory: parallel columns and each flight's row."""

    __slots__ = ("actual", "available", "event_us", "flights", "index", "scheduled")

    def __init__(
        self,
        flights: list[str] | None = None,
        scheduled: list[int] | None = None,
        actual: list[int] | None = None,
        available: list[int] | None = None,
        event_us: int = 0,
    ) -> None:
        self.flights = flights if flights is not None else []
        self.scheduled = scheduled if scheduled is not None else []
        self.actual = actual if actual is not None else []
        self.available = available if available is not None else []
        self.index: dict[str, int] = {f: i for i, f in enumerate(self.flights)}
        self.event_us = event_us

    @classmethod
    def decode(cls, payload: str, event_us: int) -> _Table:
        raw = decode_table(payload)
        return cls(raw["f"], raw["s"], raw["a"], raw["v"], event_us=event_us)

    def encode(self) -> str:
        return encode_table(
            {"f": self.flights, "s": self.scheduled, "a": self.actual, "v": self.available}
        )

    def upsert(self, flight: str, scheduled: int, actual: int, available: int) -> None:
        i = self.index.get(flight)
        if i is None:
            self.index[flight] = len(self.flights)
            self.flights.append(flight)
            self.scheduled.append(scheduled)
            self.actual.append(actual)
            self.available.append(available)
        elif actual != NEVER:  # a schedule row never erases a known departure
            self.scheduled[i], self.actual[i], self.available[i] = scheduled, actual, available


class DayState:
    """The day tables of some on-demand views, written to ``store`` by ``flush``."""

    def __init__(self, store: OnlineStore, views: Iterable[OnDemandView]) -> None:
        self.store = store
        self.views = tuple(views)
        self._tables: dict[str, _Table] = {}
        self._dirty: set[str] = set()

    def _load(self, keys: Iterable[str]) -> None:
        """Bring the tables of ``keys`` into memory: one store read for all those not there."""
        missing = [k for k in dict.fromkeys(keys) if k not in self._tables]
        for key, found in zip(missing, self.store.read(missing) if missing else [], strict=True):
            self._tables[key] = _Table.decode(found[2], found[0]) if found else _Table()

    def apply(self, rows: pd.DataFrame, published_us: Iterable[int]) -> int:
        """Rows with flight_date, carrier, flight, origin, tailnum, s, a, v (us; NEVER where
        none): each goes into every view's table of its day. Returns the rows applied."""
        days = rows["flight_date"].tolist()
        carriers, flights, origins = (rows[c].tolist() for c in ("carrier", "flight", "origin"))
        values = {"origin": origins, "carrier": carriers, "tailnum": rows["tailnum"].tolist()}
        s, a, v = (rows[c].tolist() for c in ("s", "a", "v"))
        published = [int(p) for p in published_us]
        iso: dict[dt.date, str] = {}
        day_text = [iso.get(d) or iso.setdefault(d, d.isoformat()) for d in days]
        ids = [f"{c}{f}-{o}" for c, f, o in zip(carriers, flights, origins, strict=True)]
        keyed = []  # (row, key), each day formatted once per batch
        for view in self.views:
            for i, value in enumerate(values[view.entity]):
                if value is None or value != value:  # no tail number: no aircraft table
                    continue
                keyed.append((i, state_key_text(view, value, day_text[i])))
        self._load(key for _, key in keyed)
        tables, dirty = self._tables, self._dirty
        for i, key in keyed:
            table = tables[key]
            table.upsert(ids[i], s[i], a[i], v[i])
            if published[i] > table.event_us:
                table.event_us = published[i]
            dirty.add(key)
        if days:
            self.evict_before(max(days) - dt.timedelta(days=2))
        return len(days)

    def rows(self) -> list[OnlineRow]:
        """The changed tables as store rows (then forgotten as changed)."""
        out = [
            OnlineRow(key, self._tables[key].event_us, None, self._tables[key].encode())
            for key in sorted(self._dirty)
        ]
        self._dirty.clear()
        return out

    def evict_before(self, day: dt.date) -> None:
        """Forget tables of days before ``day`` from memory (not yet written ones are kept)."""
        cut = day.isoformat()
        for key in [k for k in self._tables if k[-10:] < cut and k not in self._dirty]:
            del self._tables[key]
