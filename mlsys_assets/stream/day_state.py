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
from dataclasses import dataclass, field

import pandas as pd

from mlsys_assets.features.day_tables import decode_table, encode_table, state_key
from mlsys_assets.features.intraday import NEVER
from mlsys_assets.features.spec import OnDemandView
from mlsys_assets.resources.online_store import OnlineRow, OnlineStore


@dataclass
class _Table:
    flights: list[str] = field(default_factory=list)
    scheduled: list[int] = field(default_factory=list)
    actual: list[int] = field(default_factory=list)
    available: list[int] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)
    event_us: int = 0

    @classmethod
    def decode(cls, payload: str, event_us: int) -> _Table:
        raw = decode_table(payload)
        table = cls(raw["f"], raw["s"], raw["a"], raw["v"], event_us=event_us)
        table.index = {f: i for i, f in enumerate(table.flights)}
        return table

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

    def _table(self, key: str) -> _Table:
        table = self._tables.get(key)
        if table is None:
            found = self.store.read([key])[0]
            table = _Table.decode(found[2], found[0]) if found is not None else _Table()
            self._tables[key] = table
        return table

    def apply(self, rows: pd.DataFrame, published_us: Iterable[int]) -> int:
        """Rows with flight_date, carrier, flight, origin, tailnum, s, a, v (us; NEVER where
        none): each goes into every view's table of its day. Returns the rows applied."""
        applied = 0
        columns = [rows[c].tolist() for c in ("flight_date", "carrier", "flight", "origin")]
        tails = rows["tailnum"].tolist()
        times = [rows[c].tolist() for c in ("s", "a", "v")]
        values = {"origin": columns[3], "carrier": columns[1], "tailnum": tails}
        for i, published in enumerate(published_us):
            day = columns[0][i]
            flight = f"{columns[1][i]}{columns[2][i]}-{columns[3][i]}"
            for view in self.views:
                value = values[view.entity][i]
                if value is None or value != value:  # no tail number: no aircraft table
                    continue
                key = state_key(view, value, day)
                table = self._table(key)
                table.upsert(flight, times[0][i], times[1][i], times[2][i])
                table.event_us = max(table.event_us, int(published))
                self._dirty.add(key)
            applied += 1
        return applied

    def rows(self) -> list[OnlineRow]:
        """The changed tables as store rows (then forgotten as changed)."""
        out = [
            OnlineRow(key, self._tables[key].event_us, None, self._tables[key].encode())
            for key in sorted(self._dirty)
        ]
        self._dirty.clear()
        return out

    def evict_before(self, day: dt.date) -> None:
        """Forget tables of days before ``day`` (the store's TTL drops them on Redis)."""
        for key in [k for k in self._tables if dt.date.fromisoformat(k[-10:]) < day]:
            del self._tables[key]
