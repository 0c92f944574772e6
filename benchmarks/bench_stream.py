"""The stream processor: throughput as fast as it can go, and event-to-online lag at live pace.

Run: ``.venv/bin/python benchmarks/bench_stream.py [--redis-url URL] [--hours N]`` (``make
services`` first for the Redis figures; without Redis they are null).

Per backend (the embedded file log + SQLite online store, then Redis Streams + the Redis online
store), in a fresh MLSYS_HOME:
1. **Fast**: the replay publishes a month of every topic (January's weather and schedule, about
   29,000 events), untimed; one processor drains it into the online store, timed:
   ``events_per_second``. Then the same for the whole year's weather (26,115 observations):
   ``year_seconds``.
2. **Live pace**: a producer appends one observation hour (3 events) every ``--gap`` seconds
   while the processor runs as ``mlsys stream`` does (polling every MLSYS_FEATURES__STREAM_POLL_SECONDS);
   the lag of each event is from its producer's ``emitted_at`` stamp to the commit that made it
   visible online: ``lag_p50_ms``, ``lag_p99_ms`` (Tecton advertises under a second).

The last line printed is one JSON object with every figure, the load average and the settings.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mlsys_assets.clock import day_end_utc, utc_now  # noqa: E402
from mlsys_assets.features.catalog import view_ttl_seconds  # noqa: E402
from mlsys_assets.replay.publish import WEATHER_TOPIC, Replayer, _WeatherFeed  # noqa: E402
from mlsys_assets.resources.backends import build_event_stream, build_online_store  # noqa: E402
from mlsys_assets.resources.event_stream import EventStream  # noqa: E402
from mlsys_assets.resources.online_store import OnlineStore  # noqa: E402
from mlsys_assets.settings import Settings  # noqa: E402
from mlsys_assets.stream.freshness import Freshness  # noqa: E402
from mlsys_assets.stream.processor import StreamProcessor  # noqa: E402
from mlsys_assets.stream.sources import DEPARTURES, SOURCES, WEATHER  # noqa: E402

WORK = ROOT / "benchmarks" / ".work" / "stream"


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _settings(name: str, redis_url: str | None) -> Settings:
    home = WORK / name
    shutil.rmtree(home, ignore_errors=True)
    if redis_url is None:
        return Settings(home=home)
    return Settings(
        home=home,
        backends={
            "event_stream": "redis",
            "online_store": "redis",
            "redis_url": redis_url,
            "redis_prefix": f"mlsys-bench-stream-{os.getpid()}-{name}:",
        },
    )


def _clear_redis(settings: Settings) -> None:
    import redis

    client = redis.Redis.from_url(settings.redis)
    keys = list(client.scan_iter(f"{settings.backends.redis_prefix}*", count=10_000))
    for start in range(0, len(keys), 10_000):
        client.delete(*keys[start : start + 10_000])


def _publish_weather_in_bulk(stream: EventStream, end: dt.datetime) -> int:
    """The year's weather events as the replay writes them, in a few big appends (the replay's
    hour-by-hour appends would make this untimed setup quadratic in the file log's listing)."""
    feed = _WeatherFeed(stream, None, 42)
    emitted = utc_now().isoformat()
    payloads = [
        {
            "day": day.isoformat(),
            "published_at": at.isoformat(),
            "emitted_at": emitted,
            "record": record,
        }
        for day in sorted(feed.by_day)
        for at, record in sorted(feed._day_records(day)[0], key=lambda pair: pair[0])
        if at <= end
    ]
    for start in range(0, len(payloads), 5_000):
        stream.append(WEATHER_TOPIC, payloads[start : start + 5_000])
    return len(payloads)


def _drain(settings: Settings, stream: EventStream, sources: tuple) -> tuple[int, float]:
    processor = StreamProcessor(
        stream,
        build_online_store(settings, view_ttl_seconds=view_ttl_seconds()),
        sources=sources,
        batch_events=settings.features.stream_batch_events,
    )
    began = time.perf_counter()
    processed = processor.drain()
    seconds = time.perf_counter() - began
    assert processor.caught_up()
    return processed, seconds


def fast(month: Settings, year: Settings, departures: Settings) -> dict[str, float]:
    """A month of every topic, then the year's weather, each drained as fast as it goes."""
    stream = build_event_stream(month)
    replayer = Replayer(month, stream=stream)
    until = day_end_utc(dt.date(2013, 1, 31))
    weather, _ = replayer._weather.publish(until, inclusive=True)
    schedule = replayer._schedule.publish(until, inclusive=True)
    processed, month_seconds = _drain(month, stream, SOURCES)
    assert processed == weather + schedule, (processed, weather, schedule)

    stream = build_event_stream(year)
    year_weather = _publish_weather_in_bulk(stream, day_end_utc(dt.date(2013, 12, 31)))
    processed, year_seconds = _drain(year, stream, (WEATHER,))
    assert processed == year_weather

    # The year's departures (and cancellations) and weather: the intraday day tables too.
    stream = build_event_stream(departures)
    replayer = Replayer(departures, stream=stream)
    end = day_end_utc(dt.date(2013, 12, 31))
    with_departures = _publish_weather_in_bulk(stream, end)
    with_departures += replayer._departures.publish(end, inclusive=True)[0]
    processed, departures_seconds = _drain(departures, stream, (WEATHER, DEPARTURES))
    assert processed == with_departures
    return {
        "month_events": weather + schedule,
        "month_seconds": round(month_seconds, 3),
        "events_per_second": round((weather + schedule) / month_seconds, 1),
        "year_weather_events": year_weather,
        "year_seconds": round(year_seconds, 3),
        "year_departures_events": with_departures,
        "year_departures_seconds": round(departures_seconds, 3),
    }


def live(settings: Settings, hours: int, gap: float) -> dict[str, float]:
    """One observation hour every ``gap`` s while the processor polls; lag per event."""
    stream: EventStream = build_event_stream(settings)
    store: OnlineStore = build_online_store(settings, view_ttl_seconds=view_ttl_seconds())
    feed = _WeatherFeed(stream, None, settings.seed)
    processor = StreamProcessor(
        stream, store, group="bench-live", batch_events=settings.features.stream_batch_events
    )
    processor.drain()  # whatever is there already: the clock starts at an idle processor
    processor.freshness = Freshness(window=100_000)
    stop = threading.Event()
    worker = threading.Thread(
        target=processor.run, args=(stop, settings.features.stream_poll_seconds), daemon=True
    )
    worker.start()
    moment = dt.datetime(2013, 1, 1, 6, 0)
    published = 0
    for _ in range(hours):
        moment += dt.timedelta(hours=1)
        count, _ = feed.publish(moment, inclusive=True)
        published += count
        time.sleep(gap)
    deadline = time.monotonic() + 30
    while not processor.caught_up() and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    worker.join(10)
    summary = processor.freshness.summary(WEATHER_TOPIC) or {}
    return {
        "live_events": published,
        "lag_p50_ms": summary.get("p50_ms"),
        "lag_p99_ms": summary.get("p99_ms"),
        "lag_max_ms": summary.get("max_ms"),
    }


def run_backend(name: str, redis_url: str | None, hours: int, gap: float) -> dict[str, float]:
    parts = ("month", "year", "departures", "live")
    homes = [_settings(f"{name}-{part}", redis_url) for part in parts]
    for settings in homes if redis_url else ():
        _clear_redis(settings)
    out = fast(homes[0], homes[1], homes[2])
    out |= live(homes[3], hours, gap)
    for settings in homes if redis_url else ():
        _clear_redis(settings)
    return out


def _redis_up(url: str) -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except Exception:  # noqa: BLE001 - not running: the Redis figures are null
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default=os.environ.get("MLSYS_TEST_REDIS_URL"))
    parser.add_argument("--hours", type=int, default=300, help="live-pace hours published")
    parser.add_argument("--gap", type=float, default=0.1, help="seconds between live hours")
    args = parser.parse_args()
    redis_url = args.redis_url or "redis://127.0.0.1:56379/0"

    print(f"load average before: {load_average()}", flush=True)
    embedded = run_backend("embedded", None, args.hours, args.gap)
    print(f"embedded (file log -> SQLite): {embedded}", flush=True)
    result: dict[str, object] = {**embedded}
    if _redis_up(redis_url):
        on_redis = run_backend("redis", redis_url, args.hours, args.gap)
        print(f"redis (Redis Streams -> Redis): {on_redis}", flush=True)
        result |= {f"redis_{k}": v for k, v in on_redis.items()}
    else:
        print(f"no Redis at {redis_url}: the redis_ figures are null (run `make services`)")
        result |= {f"redis_{k}": None for k in embedded}
    result |= {
        "poll_seconds": Settings().features.stream_poll_seconds,
        "batch_events": Settings().features.stream_batch_events,
        "load_average": load_average(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
