"""The hot path's numpy row equals the pandas path (``FeatureSpec.to_model_frame``) exactly."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from mlsys_assets.features.catalog import SERVED
from mlsys_assets.features.online import lookup_online_features
from mlsys_assets.resources.online_store import SQLiteOnlineStore
from mlsys_assets.scoring.loading import RegistryReader
from serving.features import feature_time
from tests.serving.world import World, flights_of


def test_numpy_rows_equal_the_pandas_frame(shared_world: World) -> None:
    settings = shared_world.settings
    bundle = RegistryReader(settings.tracking_uri, settings.registry.model_name).load(
        shared_world.champion
    )
    store = SQLiteOnlineStore(path=str(settings.online_store_path))
    rows = []
    for flight in flights_of(shared_world.next_day).head(300).itertuples():
        request = {
            "carrier": flight.carrier,
            "flight": int(flight.flight),
            "tailnum": None if pd.isna(flight.tailnum) else flight.tailnum,
            "origin": flight.origin,
            "dest": flight.dest,
            "scheduled_departure": flight.scheduled_departure.to_pydatetime(),
            "distance": float(flight.distance),
        }
        rows.append(
            lookup_online_features(
                store, request, feature_time(request["scheduled_departure"])
            ).values
        )
    store.close()
    # Edge cases: an unseen category, missing values of every kind, a numeric given as text.
    rows.append(dict(rows[0], carrier="ZZ", dest=None, plane_manufacturer=None, distance="733"))
    rows.append(dict.fromkeys(SERVED.feature_names))

    frame = pd.DataFrame(rows)
    model_frame = bundle.spec.to_model_frame(frame)
    expected = bundle.booster.inplace_predict(model_frame)
    one_by_one = np.array([bundle.predict_one(values) for values in rows])
    np.testing.assert_array_equal(one_by_one, expected)
    np.testing.assert_array_equal(bundle.predict_matrix(bundle.encode_rows(rows)), expected)
    np.testing.assert_array_equal(bundle.predict_frame(frame), expected)
    # And the encoded categoricals are the category codes pandas assigns.
    codes = bundle.encode_rows(rows)
    for i, name in enumerate(bundle.spec.feature_names):
        if name in bundle.spec.categories:
            pandas_codes = model_frame[name].cat.codes.replace(-1, np.nan).to_numpy(dtype=float)
            np.testing.assert_array_equal(codes[:, i], pandas_codes)


def test_feature_time_is_never_after_the_prediction_time() -> None:
    past = dt.datetime(2013, 1, 22, 10, 0)
    assert feature_time(past) == past - dt.timedelta(hours=1)
    future = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=3)
    assert feature_time(future) < future - dt.timedelta(days=2)


def test_a_validated_request_is_already_normalized(shared_world: World) -> None:
    """The pipeline skips ``normalize_request``: the schema has typed every field already."""
    from mlsys_assets.features.request import normalize_request
    from serving.pipeline import flight_fields
    from serving.schemas import FlightRequest
    from tests.serving.world import next_day_requests

    bodies = next_day_requests(shared_world)[:200]
    bodies += [bodies[0] | {"tailnum": None, "distance": 1400}]  # an int distance, no tail
    for body in bodies:
        flight = flight_fields(FlightRequest.model_validate(body))
        assert normalize_request(flight) == flight
        assert type(flight["distance"]) is float
