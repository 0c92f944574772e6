"""The ingestion assets (group ``ingestion``) and the checks attached to them.

``raw_flights``, ``raw_weather`` and ``raw_departures`` are daily-partitioned with a single-run backfill policy: a
whole year is one run that handles the partition range in one vectorised pass. The reference
tables are unpartitioned snapshots with history. Every asset writes the warehouse, so each one
sits in the ``warehouse`` pool (DuckDB has one writer).
"""

import datetime as dt
from collections.abc import Callable, Iterator

import dagster as dg
import duckdb

from mlsys_assets.clock import utc_now
from mlsys_assets.ingestion.checks import (
    contract_result,
    departures_freshness,
    flights_freshness,
    history_consistency,
    reconcile_daily,
    reconcile_reference,
    weather_freshness,
)
from mlsys_assets.ingestion.contracts import DEPARTURES_VERSION, FLIGHTS_VERSION, WEATHER_VERSION
from mlsys_assets.ingestion.departures import ingest_departures
from mlsys_assets.ingestion.flights import ingest_flights
from mlsys_assets.ingestion.reference import REFERENCE_TABLES, ingest_reference
from mlsys_assets.ingestion.report import IngestReport
from mlsys_assets.ingestion.store import ensure_tables
from mlsys_assets.ingestion.weather import ingest_weather
from mlsys_assets.partitions import DAILY_2013
from mlsys_assets.resources.event_stream import EventStream
from mlsys_assets.resources.landing_zone import LandingZone
from mlsys_assets.resources.source_database import KEYS, SourceDatabase
from mlsys_assets.resources.warehouse import Warehouse

GROUP = "ingestion"
POOL = "warehouse"
Results = Iterator[dg.MaterializeResult | dg.AssetCheckResult]


def _checks(asset: str, *names_and_descriptions: tuple[str, str]) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec(n, asset=asset, description=d) for n, d in names_and_descriptions]


_CONTRACT = ("contract", "Every file/event has the columns of the contract; else refused whole.")
_RECONCILIATION = (
    "reconciliation",
    "received = accepted + quarantined + duplicates, per partition.",
)


def _range(context: dg.AssetExecutionContext) -> tuple[dt.date, dt.date]:
    keys = context.partition_key_range
    return dt.date.fromisoformat(keys.start), dt.date.fromisoformat(keys.end)


def _daily(table: str, contract_version: str) -> dict:
    """The ``@dg.asset`` arguments of the daily raw table ``raw.<table>``."""
    return {
        "key": f"raw_{table}",
        "group_name": GROUP,
        "partitions_def": DAILY_2013,
        "backfill_policy": dg.BackfillPolicy.single_run(),
        "pool": POOL,
        "kinds": {"duckdb"},
        "check_specs": _checks(f"raw_{table}", _CONTRACT, _RECONCILIATION),
        "metadata": {"contract_version": contract_version, "table": f"raw.{table}"},
    }


def _ingest_daily(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    table: str,
    ingest: Callable[[duckdb.DuckDBPyConnection, dt.date, dt.date, str], IngestReport],
) -> Results:
    """Ingest the run's partition range into ``raw.<table>`` and reconcile it: yields the
    materialization, the contract check and the reconciliation check."""
    start, end = _range(context)
    with warehouse.connect() as conn:
        report = ingest(conn, start, end, context.run.run_id)
        reconciliation = reconcile_daily(conn, table, start, end)
    context.log.info(f"raw_{table} {start}..{end}: {report.totals()} in {report.seconds:.1f}s")
    yield dg.MaterializeResult(metadata=report.metadata())
    yield contract_result(report, "contract")
    yield reconciliation


@dg.asset(**_daily("flights", FLIGHTS_VERSION))
def raw_flights(
    context: dg.AssetExecutionContext, warehouse: Warehouse, landing_zone: LandingZone
) -> Results:
    """Completed flights from the daily landing files, validated by the flights contract."""
    yield from _ingest_daily(
        context,
        warehouse,
        "flights",
        lambda conn, start, end, run: ingest_flights(conn, landing_zone.root, start, end, run),
    )


@dg.asset(**_daily("weather", WEATHER_VERSION))
def raw_weather(
    context: dg.AssetExecutionContext, warehouse: Warehouse, event_stream: EventStream
) -> Results:
    """Hourly weather consumed from the event stream with a durable cursor in the warehouse."""
    yield from _ingest_daily(
        context,
        warehouse,
        "weather",
        lambda conn, start, end, run: ingest_weather(conn, event_stream, start, end, run),
    )


@dg.asset(**_daily("departures", DEPARTURES_VERSION))
def raw_departures(
    context: dg.AssetExecutionContext, warehouse: Warehouse, event_stream: EventStream
) -> Results:
    """Departures and cancellations consumed from the event stream (bitemporal: event_time and
    available_at), with a durable cursor in the warehouse."""
    yield from _ingest_daily(
        context,
        warehouse,
        "departures",
        lambda conn, start, end, run: ingest_departures(conn, event_stream, start, end, run),
    )


def _reference_asset(table: str) -> dg.AssetsDefinition:
    name = f"raw_{table}"

    @dg.asset(
        key=name,
        group_name=GROUP,
        pool=POOL,
        kinds={"duckdb"},
        check_specs=_checks(
            name, _RECONCILIATION, ("history", "One current version per key; no overlaps.")
        ),
        metadata={"table": f"raw.{table}"},
        description=f"{table.capitalize()} from the source database, with valid_from/valid_to "
        "history driven by the source's updated_at.",
    )
    def _asset(
        context: dg.AssetExecutionContext,
        warehouse: Warehouse,
        source_database: SourceDatabase,
        landing_zone: LandingZone,
    ) -> Results:
        snapshot_at = landing_zone.now() or utc_now()
        with warehouse.connect() as conn:
            report = ingest_reference(conn, source_database, table, context.run.run_id, snapshot_at)
            reconciliation = reconcile_reference(conn, table)
            history = history_consistency(conn, table, KEYS[table])
        yield dg.MaterializeResult(metadata=report.metadata())
        yield reconciliation
        yield history

    return _asset


REFERENCE_ASSETS = [_reference_asset(t) for t in REFERENCE_TABLES]


@dg.asset_check(
    asset=raw_flights,
    name="freshness",
    description="Every day's flights are in by the end of the next day (replay clock).",
)
def raw_flights_freshness(warehouse: Warehouse, landing_zone: LandingZone) -> dg.AssetCheckResult:
    with warehouse.connect() as conn:
        ensure_tables(conn)
        return flights_freshness(conn, landing_zone.now())


@dg.asset_check(
    asset=raw_weather,
    name="freshness",
    description="Weather lags the replay clock by at most 3 hours; no due day is missing.",
)
def raw_weather_freshness(warehouse: Warehouse, landing_zone: LandingZone) -> dg.AssetCheckResult:
    with warehouse.connect() as conn:
        ensure_tables(conn)
        return weather_freshness(conn, landing_zone.now())


@dg.asset_check(
    asset=raw_departures,
    name="freshness",
    description="Every ended day has departures; the newest available one lags the replay "
    "clock by at most 6 hours (the quiet night).",
)
def raw_departures_freshness(
    warehouse: Warehouse, landing_zone: LandingZone
) -> dg.AssetCheckResult:
    with warehouse.connect() as conn:
        ensure_tables(conn)
        return departures_freshness(conn, landing_zone.now())


ASSETS: list[dg.AssetsDefinition] = [raw_flights, raw_weather, raw_departures, *REFERENCE_ASSETS]
CHECKS: list[dg.AssetChecksDefinition] = [
    raw_flights_freshness,
    raw_weather_freshness,
    raw_departures_freshness,
]
