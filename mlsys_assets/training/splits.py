"""Temporal train/validation/test split by date, with gaps, never a random shuffle across time.

A flight's features summarise the days before it, so a model validated on the day right after
its last training day would be judged partly on what it already saw; a gap of whole days
between the splits keeps each window honest.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

TRAIN, VALIDATION, TEST = "train", "validation", "test"


@dataclass(frozen=True)
class DateWindow:
    """An inclusive range of local days."""

    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"empty window {self.start}..{self.end}")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def __str__(self) -> str:
        return f"{self.start.isoformat()}/{self.end.isoformat()}"


@dataclass(frozen=True)
class SplitWindows:
    """The three windows in time order, each separated from the next by ``gap_days``."""

    train: DateWindow
    validation: DateWindow
    test: DateWindow
    gap_days: int

    def __post_init__(self) -> None:
        gap = dt.timedelta(days=self.gap_days)
        if self.validation.start <= self.train.end + gap:
            raise ValueError(f"validation {self.validation} too close to train {self.train}")
        if self.test.start <= self.validation.end + gap:
            raise ValueError(f"test {self.test} too close to validation {self.validation}")

    @property
    def span(self) -> DateWindow:
        return DateWindow(self.train.start, self.test.end)

    def assign(self, dates: pd.Series) -> pd.Series:
        """The split of each local day (``None`` in a gap or outside the windows)."""
        days = pd.to_datetime(dates).dt.date
        out = pd.Series(None, index=dates.index, dtype="object")
        for name, window in ((TRAIN, self.train), (VALIDATION, self.validation), (TEST, self.test)):
            out[(days >= window.start) & (days <= window.end)] = name
        return out

    def as_dict(self) -> dict[str, str]:
        return {
            "train_window": str(self.train),
            "validation_window": str(self.validation),
            "test_window": str(self.test),
            "gap_days": str(self.gap_days),
        }


def split_windows(
    train_start: dt.date,
    train_end: dt.date,
    test_start: dt.date,
    test_end: dt.date,
    *,
    validation_days: int,
    gap_days: int,
) -> SplitWindows:
    """Carve validation off the end of ``train_start..train_end``; test is given explicitly.

    The last ``validation_days`` of the training window validate (early stopping, search,
    threshold); ``gap_days`` before them are left out, and the test window must start at least
    ``gap_days`` after the training window ends.
    """
    validation = DateWindow(train_end - dt.timedelta(days=validation_days - 1), train_end)
    train = DateWindow(train_start, validation.start - dt.timedelta(days=gap_days + 1))
    return SplitWindows(train, validation, DateWindow(test_start, test_end), gap_days)


def windows_before(
    cutoff: dt.date, *, window_days: int, validation_days: int, test_days: int, gap_days: int
) -> SplitWindows:
    """The windows that end at ``cutoff``: the last ``test_days`` test, the window before trains."""
    test = DateWindow(cutoff - dt.timedelta(days=test_days - 1), cutoff)
    train_end = test.start - dt.timedelta(days=gap_days + 1)
    train_start = train_end - dt.timedelta(days=window_days - 1)
    return split_windows(
        train_start,
        train_end,
        test.start,
        test.end,
        validation_days=validation_days,
        gap_days=gap_days,
    )
