"""Dataset selection on the real feature store: windows, labels, sampling, digest, snapshot."""

from __future__ import annotations

import pandas as pd

from mlsys_assets.features import FLIGHTS_V1
from mlsys_assets.training.dataset import (
    SamplingPlan,
    read_training_set,
    select_training_set,
    training_set_digest,
    write_training_set,
)
from mlsys_assets.training.splits import TEST, TRAIN, VALIDATION


def test_rows_fall_in_their_window_and_every_flight_is_accounted_for(conn, windows) -> None:
    ts = select_training_set(conn, windows)
    days = pd.to_datetime(ts.frame["flight_date"]).dt.date
    for split, window in (
        (TRAIN, windows.train),
        (VALIDATION, windows.validation),
        (TEST, windows.test),
    ):
        part = days[ts.frame["split"] == split]
        assert part.min() >= window.start and part.max() <= window.end
    s = ts.summary
    assert s["entity_rows"] == s["gap_rows"] + s["excluded_rows"] + s["rows_total"]
    assert s["outcome_cancelled"] > 0 and s["outcome_diverted"] > 0
    assert s["excluded_rows"] == s["outcome_cancelled"] + s["outcome_diverted"]
    assert set(ts.frame["label"].unique()) == {0.0, 1.0}
    assert ts.spec.feature_names == list(FLIGHTS_V1.feature_names)
    assert set(ts.spec.categories) == set(FLIGHTS_V1.categorical_features)


def test_cancelled_as_delayed_is_recorded_and_labelled(conn, windows) -> None:
    ts = select_training_set(conn, windows, cancelled_policy="delayed")
    assert ts.summary["cancelled_policy"] == "delayed"
    assert (ts.frame.loc[ts.frame["outcome"] == "cancelled", "label"] == 1.0).all()
    assert ts.summary["excluded_rows"] == ts.summary["outcome_diverted"]


def test_downsampling_touches_only_training_negatives_and_reweights(conn, windows) -> None:
    full = select_training_set(conn, windows)
    sampled = select_training_set(conn, windows, sampling=SamplingPlan("downsample", 0.5, 7))
    for split in (VALIDATION, TEST):
        assert len(sampled.part(split)) == len(full.part(split))
    train, full_train = sampled.part(TRAIN), full.part(TRAIN)
    assert (train["label"] == 1).sum() == (full_train["label"] == 1).sum()
    assert (train["label"] == 0).sum() < 0.6 * (full_train["label"] == 0).sum()
    assert set(train.loc[train["label"] == 0, "weight"]) == {2.0}
    assert sampled.summary["sampling"] == "downsample"


def test_digest_is_stable_survives_the_warehouse_and_sees_a_changed_label(conn, windows) -> None:
    first = select_training_set(conn, windows)
    again = select_training_set(conn, windows)
    assert first.digest == again.digest
    write_training_set(conn, first)
    assert read_training_set(conn).digest == first.digest
    changed = first.frame.copy()
    changed.loc[changed.index[0], "label"] = 1.0 - changed.loc[changed.index[0], "label"]
    assert training_set_digest(changed, first.spec) != first.digest


def test_a_flights_v2_snapshot_reads_back_with_its_digest(conn, windows) -> None:
    """Intraday features round-trip through the warehouse (an empty window's NaN included)."""
    from mlsys_assets.features.catalog import FLIGHTS_V2

    ts = select_training_set(conn, windows, service=FLIGHTS_V2)
    assert ts.spec.feature_service == "flights_v2"
    assert ts.frame["carrier_today_late_share"].isna().any()  # before a carrier's first flight
    write_training_set(conn, ts)
    assert read_training_set(conn).digest == ts.digest
