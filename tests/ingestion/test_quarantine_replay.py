"""`mlsys quarantine replay`: rows that pass the current contract move into the raw tables."""

from __future__ import annotations

import datetime as dt

import duckdb

from mlsys_assets.ingestion.checks import reconcile_daily
from mlsys_assets.ingestion.contracts import flights_contract
from mlsys_assets.ingestion.flights import ingest_flights
from mlsys_assets.ingestion.quarantine import replay_quarantine
from tests.ingestion.conftest import copy_home, read_faults


def test_fixed_contract_replays_the_renamed_file_and_keeps_bad_rows(
    faulty_source, mlsys_home
) -> None:
    settings = copy_home(faulty_source, mlsys_home)
    plan = read_faults(settings)["plan"]
    day = dt.date.fromisoformat(plan["renamed_day"])
    start, end = dt.date(2013, 1, 1), day  # Jan 1 always has row faults
    with duckdb.connect(str(settings.warehouse_path)) as conn:
        report = ingest_flights(conn, settings.landing_dir, start, end, "run-1")
        whole_file = report.partitions.set_index("partition_key").loc[day.isoformat(), "received"]

        unchanged = replay_quarantine(conn, "flights")  # same contract: nothing passes now
        assert unchanged.replayed == 0 and unchanged.still_failing == unchanged.pending

        fixed = flights_contract().with_aliases(
            {plan["renamed_to"]: plan["renamed_from"]}, "flights/2"
        )
        outcome = replay_quarantine(conn, "flights", contract=fixed)
        assert outcome.replayed == whole_file  # the renamed file had no row faults
        assert outcome.still_failing == outcome.pending - outcome.replayed

        accepted = conn.execute(
            "SELECT count(*) FROM raw.flights WHERE flight_date = ?", [day]
        ).fetchone()[0]
        pending = conn.execute(
            """SELECT reason FROM raw.quarantine
               WHERE source = 'flights' AND replayed_at IS NULL"""
        ).fetchall()
        assert accepted == outcome.replayed
        assert pending and all("columns break" not in r for (r,) in pending)
        assert reconcile_daily(conn, "flights", start, end).passed
        again = replay_quarantine(conn, "flights", contract=fixed)
        assert again.replayed == 0
