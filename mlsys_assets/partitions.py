"""Partitions shared by every time-based asset: one per New York local day of 2013."""

from __future__ import annotations

import dagster as dg

DAILY_2013 = dg.DailyPartitionsDefinition(start_date="2013-01-01", end_date="2014-01-01")
