"""Temporal splits: windows in time order, never overlapping, separated by the gap."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlsys_assets.training.splits import TEST, TRAIN, VALIDATION, split_windows, windows_before


@given(
    start=st.dates(dt.date(2013, 1, 1), dt.date(2013, 6, 1)),
    train_days=st.integers(20, 150),
    validation_days=st.integers(1, 14),
    gap_days=st.integers(0, 3),
    test_offset=st.integers(0, 5),
    test_days=st.integers(1, 30),
)
def test_splits_never_overlap_and_keep_the_gap(
    start, train_days, validation_days, gap_days, test_offset, test_days
) -> None:
    train_end = start + dt.timedelta(days=train_days)
    test_start = train_end + dt.timedelta(days=gap_days + 1 + test_offset)
    w = split_windows(
        start,
        train_end,
        test_start,
        test_start + dt.timedelta(days=test_days - 1),
        validation_days=validation_days,
        gap_days=gap_days,
    )
    assert (
        w.train.end < w.validation.start < w.validation.end + dt.timedelta(days=1) <= w.test.start
    )
    assert (w.validation.start - w.train.end).days == gap_days + 1
    assert (w.test.start - w.validation.end).days >= gap_days + 1
    days = pd.Series(pd.date_range(w.train.start, w.test.end, freq="D"))
    split = w.assign(days)
    for name in (TRAIN, VALIDATION, TEST):
        chosen = days[split == name]
        assert len(chosen) > 0
    # every day belongs to at most one split, and the splits come in time order
    assert days[split == TRAIN].max() < days[split == VALIDATION].min()
    assert days[split == VALIDATION].max() < days[split == TEST].min()
    assert split.isna().sum() >= 2 * gap_days


def test_a_test_window_inside_the_gap_is_refused() -> None:
    with pytest.raises(ValueError, match="too close"):
        split_windows(
            dt.date(2013, 1, 1),
            dt.date(2013, 1, 31),
            dt.date(2013, 2, 1),
            dt.date(2013, 2, 10),
            validation_days=7,
            gap_days=1,
        )


def test_windows_before_a_cutoff_end_there() -> None:
    w = windows_before(
        dt.date(2013, 6, 30), window_days=120, validation_days=21, test_days=14, gap_days=1
    )
    assert w.test.end == dt.date(2013, 6, 30)
    assert w.test.days == 14 and w.validation.days == 21
    assert (w.test.start - w.validation.end).days == 2
    assert (w.validation.end - w.train.start).days == 119
