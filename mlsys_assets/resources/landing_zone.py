"""The landing zone: where producers drop files, and where the replay clock lives."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
from pydantic import Field

from mlsys_assets.clock import read_clock


class LandingZone(dg.ConfigurableResource):
    """A folder of landing files (``flights/date=YYYY-MM-DD/flights.csv``) and ``_clock.json``."""

    path: str = Field(description="The landing folder, MLSYS_HOME/landing by default.")

    @property
    def root(self) -> Path:
        return Path(self.path)

    def flights_file(self, day: dt.date) -> Path:
        return self.root / "flights" / f"date={day.isoformat()}" / "flights.csv"

    def now(self) -> dt.datetime | None:
        """The simulated "now" written by replay (naive UTC), None before any replay."""
        return read_clock(self.root)
