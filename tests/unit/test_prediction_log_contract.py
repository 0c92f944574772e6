"""The prediction log's contract: the reader's dtypes follow the writer's schema, one time rule."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa

from mlsys_assets.prediction_log_contract import (
    PREDICTION_COLUMNS,
    PREDICTION_SCHEMA,
    feature_time,
    pandas_columns,
)


def test_every_logged_column_has_a_reader_dtype_and_the_legacy_json_follows_its_successor() -> None:
    names = list(PREDICTION_COLUMNS)
    assert [n for n in names if n != "features"] == PREDICTION_SCHEMA.names
    assert names.index("features") == names.index("feature_values") + 1
    assert PREDICTION_COLUMNS["flight"] == "Int64"  # nullable: an old log may lack it
    assert PREDICTION_COLUMNS["scheduled_departure"] == "datetime64[us]"


def test_a_read_back_log_has_the_dtypes_the_contract_names() -> None:
    schema = pa.schema([("at", pa.timestamp("us")), ("n", pa.int64()), ("ok", pa.bool_())])
    table = pa.table({"at": [dt.datetime(2013, 1, 1)], "n": [None], "ok": [True]}, schema=schema)
    frame = table.to_pandas().astype(pandas_columns(schema))
    assert {c: str(t) for c, t in frame.dtypes.items()} == pandas_columns(schema)


def test_feature_time_is_the_request_moment_capped_at_the_prediction_time() -> None:
    departure = dt.datetime(2013, 3, 1, 12)
    early, late = dt.datetime(2013, 2, 27, 9), dt.datetime(2013, 3, 1, 11, 30)
    assert feature_time(departure, early) == early
    assert feature_time(departure, late) == dt.datetime(2013, 3, 1, 11)  # departure - 1 h
    column = feature_time(pd.Series([departure, departure]), pd.Series([early, late]))
    assert column.tolist() == [early, dt.datetime(2013, 3, 1, 11)]  # the same rule on columns
