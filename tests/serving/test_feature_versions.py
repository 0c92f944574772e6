"""Serving scores a model only if it can feed it: a known feature service, served features."""

from __future__ import annotations

from mlsys_assets.features.catalog import FLIGHTS_V1, FLIGHTS_V2, SERVED
from mlsys_assets.model_contract import FeatureSpec
from mlsys_assets.scoring.loading import _servable


def test_models_of_every_known_service_are_servable() -> None:
    for service in (FLIGHTS_V1, FLIGHTS_V2):
        assert _servable(FeatureSpec(service.name, service.feature_names, {})) is None


def test_an_unknown_feature_version_is_refused_with_the_reason() -> None:
    reason = _servable(FeatureSpec("flights_v9", FLIGHTS_V2.feature_names, {}))
    assert reason is not None and "flights_v9" in reason and "flights_v2" in reason


def test_a_feature_serving_does_not_provide_is_refused() -> None:
    names = [*SERVED.feature_names, "tomorrows_weather"]
    assert "tomorrows_weather" in _servable(FeatureSpec("flights_v2", names, {}))
