"""Online lookup on Redis beside SQLite: one whole flight (7 entities + request features) per call.

Run: ``make services`` then ``.venv/bin/python benchmarks/bench_online_redis.py [--until
YYYY-MM-DD] [--redis-url URL]``. The offline features of 2013-01-01..until (default: the whole
year, as ``bench_features.py``) are materialized into both stores; then 10,000 random flights of
the last week are looked up at the newest moment, each one on both stores back to back (in a
random order), so both see the same machine load. Redis is on loopback: each lookup is one
``MGET`` round trip. The last line printed is one JSON object with the headline figures
(``redis_online_p50_ms``, ``redis_online_p99_ms``, ``sqlite_online_p50_ms``, ...).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import pandas as pd  # noqa: E402

from mlsys_assets.features import (  # noqa: E402
    entity_rows_for_flights,
    lookup_online_features,
    lookup_online_features_batch,
    materialize_online,
)
from mlsys_assets.features.catalog import FEATURE_VIEWS, view_ttl_seconds  # noqa: E402
from mlsys_assets.features.offline import compute_all  # noqa: E402
from mlsys_assets.features.parity import parity_moment  # noqa: E402
from mlsys_assets.resources.backends import build_online_store  # noqa: E402
from mlsys_assets.resources.online_store import OnlineStore  # noqa: E402
from mlsys_assets.resources.redis_online_store import RedisOnlineStore  # noqa: E402
from mlsys_assets.settings import Settings  # noqa: E402
from tests.reference_data import load_reference  # noqa: E402

WORK = ROOT / "benchmarks" / ".work" / "online_redis"
LOOKUPS = 10_000
BATCHES = 200
PREFIX = "mlsys-bench:"


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def prepare(until: dt.date) -> tuple[duckdb.DuckDBPyConnection, pd.DataFrame]:
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / "warehouse.duckdb"
    path.unlink(missing_ok=True)
    conn = duckdb.connect(str(path))
    load_reference(conn, dt.date(2013, 1, 1), until)
    compute_all(conn, FEATURE_VIEWS)
    return conn, entity_rows_for_flights(conn, dt.date(2013, 1, 1), until)


def requests_of_last_week(rows: pd.DataFrame) -> list[dict]:
    last = rows[rows["flight_date"] >= rows["flight_date"].max() - pd.Timedelta(days=6)]
    cols = ["carrier", "flight", "tailnum", "origin", "dest", "scheduled_departure", "distance"]
    requests = [
        {**r, "scheduled_departure": r["scheduled_departure"].to_pydatetime()}
        for r in last[cols].to_dict("records")
    ]
    for r in requests:
        if not isinstance(r["tailnum"], str):
            r["tailnum"] = None
    return requests


def materialized(conn: duckdb.DuckDBPyConnection, store: OnlineStore) -> float:
    start = time.perf_counter()
    materialize_online(conn, store, FEATURE_VIEWS)
    return time.perf_counter() - start


def pct(sorted_times: list[float], q: float) -> float:
    return sorted_times[min(len(sorted_times) - 1, int(len(sorted_times) * q))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--until", type=dt.date.fromisoformat, default=dt.date(2013, 12, 31))
    parser.add_argument("--redis-url", default="redis://127.0.0.1:56379/0")
    args = parser.parse_args()
    print(f"load average at start: {load_average()} (2 shared cores)", flush=True)

    conn, rows = prepare(args.until)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{WORK / 'mlsys' / 'online.sqlite'}{suffix}").unlink(missing_ok=True)
    sqlite = build_online_store(Settings(home=WORK / "mlsys"))
    redis_store = build_online_store(
        Settings(
            home=WORK / "mlsys",
            backends={"online_store": "redis", "redis_url": args.redis_url, "redis_prefix": PREFIX},
        ),
        view_ttl_seconds=view_ttl_seconds(),
    )
    assert isinstance(redis_store, RedisOnlineStore)
    redis_store.clear()
    seconds = {"sqlite": materialized(conn, sqlite), "redis": materialized(conn, redis_store)}
    now = parity_moment(conn, [v.table for v in FEATURE_VIEWS])
    requests = requests_of_last_week(rows)
    stores = {"sqlite": sqlite, "redis": redis_store}

    rng = random.Random(42)
    for r in requests[:500]:  # warm-up: connections, plans, decode cache
        for store in stores.values():
            lookup_online_features(store, r, now)
    times: dict[str, list[float]] = {name: [] for name in stores}
    for _ in range(LOOKUPS):
        request = rng.choice(requests)
        order = list(stores.items())
        rng.shuffle(order)
        answers = []
        for name, store in order:
            t0 = time.perf_counter()
            answers.append(lookup_online_features(store, request, now))
            times[name].append(time.perf_counter() - t0)
        assert answers[0] == answers[1], "the two stores disagree"
    batch: dict[str, list[float]] = {name: [] for name in stores}
    for _ in range(BATCHES):
        flights = rng.sample(requests, 100)
        for name, store in stores.items():
            t0 = time.perf_counter()
            lookup_online_features_batch(store, flights, now)
            batch[name].append(time.perf_counter() - t0)

    result: dict[str, float | int | str] = {"online_lookups": LOOKUPS, "until": str(args.until)}
    print(f"\nonline lookup of a whole flight, {LOOKUPS:,} lookups, 2013-01-01..{args.until}")
    for name in stores:
        t = sorted(times[name])
        p50, p99 = statistics.median(t) * 1000, pct(t, 0.99)
        b100 = statistics.median(batch[name]) * 1000
        print(
            f"  {name:6s} p50 {p50:7.4f} ms   p99 {p99:7.4f} ms   batch of 100 {b100:6.3f} ms"
            f"   materialize {seconds[name]:5.1f} s"
        )
        result |= {
            f"{name}_online_p50_ms": round(p50, 5),
            f"{name}_online_p99_ms": round(p99, 5),
            f"{name}_online_batch100_ms": round(b100, 4),
            f"{name}_materialize_seconds": round(seconds[name], 2),
        }
    print(
        f"  redis p99 target < 1 ms on loopback: {'met' if result['redis_online_p99_ms'] < 1 else 'NOT met'}"
    )
    print(f"\nload average at end: {load_average()}")
    redis_store.clear()
    redis_store.close()
    sqlite.close()
    conn.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
