"""Ingest the whole of 2013 end to end through Dagster, from a replayed landing zone.

Replays the year (clean, no faults) into a temporary MLSYS_HOME, then times ONE Dagster run
materializing every ingestion asset for 2013-01-01..2013-12-31 on the persistent instance under
MLSYS_HOME/dagster_home. Prints rows per second per source, the CPU time of the run and the load
average (the machine is shared: wall time grows with other people's load, CPU time does not).
The last line is one JSON object.

    .venv/bin/python benchmarks/bench_ingestion.py [--consolidated-event-log]

``--consolidated-event-log`` writes a dagster.yaml using Dagster's single-file SQLite event log
(one database instead of a run shard plus an index shard): a measurement of what that instance
setting would save, not the default.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import tempfile
import time
import warnings
from pathlib import Path

import duckdb

from mlsys_assets.ingestion.run import ingest_range
from mlsys_assets.replay import replay
from mlsys_assets.settings import Settings

START, END = dt.date(2013, 1, 1), dt.date(2013, 12, 31)
CONSOLIDATED = """event_log_storage:
  module: dagster._core.storage.event_log
  class: ConsolidatedSqliteEventLogStorage
  config:
    base_dir: {base}
telemetry:
  enabled: false
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--consolidated-event-log", action="store_true")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    with tempfile.TemporaryDirectory(prefix="bench-ingestion-") as tmp:
        settings = Settings(home=Path(tmp) / "mlsys")
        began = time.perf_counter()
        replay(settings, END)
        print(f"replayed 2013 in {time.perf_counter() - began:.1f}s")
        if args.consolidated_event_log:
            settings.dagster_home.mkdir(parents=True)
            (settings.dagster_home / "dagster.yaml").write_text(
                CONSOLIDATED.format(base=settings.dagster_home / "history" / "runs")
            )

        load_before = os.getloadavg()[0]
        began, cpu_began = time.perf_counter(), time.process_time()
        result = ingest_range(settings, START, END, raise_on_error=True)
        seconds = time.perf_counter() - began
        cpu = time.process_time() - cpu_began

        with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
            flights = conn.execute("SELECT count(*) FROM raw.flights").fetchone()[0]
            weather = conn.execute("SELECT count(*) FROM raw.weather").fetchone()[0]
        for node, rows in (("raw_flights", flights), ("raw_weather", weather)):
            step = result.asset_materializations_for_node(node)[0].metadata["seconds"].value
            print(
                f"{node}: {rows:,} rows; in-step {step:.1f}s = {rows / step:,.0f} rows/s; "
                f"end to end {rows / seconds:,.0f} rows/s"
            )
        load = (load_before + os.getloadavg()[0]) / 2
        print(
            f"whole year, one Dagster run (1,460 partition events), end to end: {seconds:.1f}s "
            f"wall, {cpu:.1f}s CPU, load average ~{load:.1f} on {os.cpu_count()} cores"
        )
        print(
            json.dumps(
                {
                    "seconds_total": round(seconds, 2),
                    "flights_rows": flights,
                    "weather_rows": weather,
                    "cpu_seconds": round(cpu, 2),
                    "load_average": round(load, 2),
                    "consolidated_event_log": args.consolidated_event_log,
                }
            )
        )


if __name__ == "__main__":
    main()
