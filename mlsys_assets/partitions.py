"""Partitions shared by every time-based asset: one per New York local day of the data span."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from mlsys_assets.nycflights import FIRST_DAY, LAST_DAY

DAILY_2013 = dg.DailyPartitionsDefinition(
    start_date=FIRST_DAY.isoformat(), end_date=(LAST_DAY + dt.timedelta(days=1)).isoformat()
)
