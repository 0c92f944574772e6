"""Missing features judged against what training would have seen for the same traffic."""

from __future__ import annotations

import pandas as pd

from mlsys_assets.monitoring.coverage import feature_coverage


def _predictions(values: list[dict]) -> pd.DataFrame:
    return pd.DataFrame({"feature_values": values})


def _row(table: pd.DataFrame, feature: str) -> pd.Series:
    return table.set_index("feature").loc[feature]


def test_a_feature_served_missing_but_known_offline_is_the_excess() -> None:
    live = _predictions([{"weather_temp": None, "weather_wind_gust": None}] * 10)
    offline = pd.DataFrame({"weather_temp": [50.0] * 10, "weather_wind_gust": [None] * 10})
    training = pd.DataFrame({"weather_temp": [40.0] * 9 + [None], "weather_wind_gust": [None] * 10})
    table = feature_coverage(live, training, offline)
    assert table.iloc[0]["feature"] == "weather_temp"
    assert _row(table, "weather_temp")["excess"] == 1.0 - 0.1  # over training's 10%
    assert _row(table, "weather_wind_gust")["excess"] == 0.0  # missing offline too: legitimate


def test_a_calm_day_is_not_an_alarm() -> None:
    """No gust reported all day: missing live and offline alike, whatever training's share."""
    live = _predictions([{"weather_wind_gust": None}] * 20)
    offline = pd.DataFrame({"weather_wind_gust": [None] * 20})
    training = pd.DataFrame({"weather_wind_gust": [None] * 7 + [12.0] * 3})
    assert _row(feature_coverage(live, training, offline), "weather_wind_gust")["excess"] == 0.0


def test_no_traffic_gives_an_empty_table() -> None:
    assert feature_coverage(_predictions([]).iloc[:0], None).empty
