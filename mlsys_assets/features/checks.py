"""Asset checks of the feature store: no leakage, online/offline parity, online freshness."""

import dagster as dg
import duckdb

from mlsys_assets.features.assets import ONLINE_ASSET
from mlsys_assets.features.catalog import FEATURE_VIEWS, FLIGHTS_V1
from mlsys_assets.features.entities import PREDICTION_LEAD
from mlsys_assets.features.offline import _interval
from mlsys_assets.features.parity import parity_mismatches, parity_moment, parity_sample
from mlsys_assets.features.spec import FeatureView
from mlsys_assets.features.training_set import view_features
from mlsys_assets.resources.online_store import OnlineStore
from mlsys_assets.resources.warehouse import Warehouse

LEAKAGE_SAMPLE = 20_000
PARITY_SAMPLE = 200
SEED = 42


def _exists(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


def _has_raw_flights(conn: duckdb.DuckDBPyConnection) -> bool:
    return _exists(conn, "raw", "flights")


def leakage_check(view: FeatureView) -> dg.AssetChecksDefinition:
    """For a sample of flights, every feature value joined has an event time before the row's."""

    @dg.asset_check(
        asset=dg.AssetKey(view.name),
        name="no_leakage",
        description=(
            f"Point-in-time join of {LEAKAGE_SAMPLE:,} sampled flights with {view.table}: every "
            "value used has event_timestamp strictly before the prediction time."
        ),
    )
    def _check(warehouse: Warehouse) -> dg.AssetCheckResult:
        with warehouse.connect(read_only=True) as conn:
            if not (_has_raw_flights(conn) and _exists(conn, "features", view.name)):
                return dg.AssetCheckResult(passed=True, metadata={"sampled_rows": 0})
            rows = conn.execute(
                f"""SELECT carrier, origin, dest, tailnum, scheduled_departure,
                           scheduled_departure - {_interval(PREDICTION_LEAD)} AS event_timestamp
                    FROM raw.flights USING SAMPLE reservoir({LEAKAGE_SAMPLE} ROWS) REPEATABLE ({SEED})"""
            ).df()
            feats = view_features(conn, rows, (view,), event_times=True)
        used = feats[f"__event_time_{view.name}"]
        leaks = int((used.notna() & (used >= rows["event_timestamp"])).sum())
        return dg.AssetCheckResult(
            passed=leaks == 0,
            metadata={
                "sampled_rows": len(rows),
                "rows_with_value": int(used.notna().sum()),
                "leaking_rows": leaks,
            },
        )

    return _check


@dg.asset_check(
    asset=dg.AssetKey(ONLINE_ASSET),
    name="online_offline_parity",
    description=(
        f"For {PARITY_SAMPLE} flights of the newest day, every feature served online equals the "
        "offline point-in-time value at the same moment (zero mismatches)."
    ),
)
def online_offline_parity(warehouse: Warehouse, online_store: OnlineStore) -> dg.AssetCheckResult:
    with warehouse.connect(read_only=True) as conn:
        ready = _has_raw_flights(conn) and all(
            _exists(conn, "features", v.name) for v in FEATURE_VIEWS
        )
        if not ready:
            return dg.AssetCheckResult(passed=True, metadata={"sampled_rows": 0})
        now = parity_moment(conn, [v.table for v in FEATURE_VIEWS])
        if now is None:
            return dg.AssetCheckResult(passed=True, metadata={"sampled_rows": 0})
        requests = parity_sample(conn, PARITY_SAMPLE, SEED)
        mismatches = parity_mismatches(conn, online_store, requests, now)
    examples = [
        f"row {m.row} {m.feature}: online={m.online!r} offline={m.offline!r}"
        for m in mismatches[:10]
    ]
    return dg.AssetCheckResult(
        passed=not mismatches,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "sampled_rows": len(requests),
            "features_compared": len(requests) * len(FLIGHTS_V1.feature_names),
            "mismatches": len(mismatches),
            "at": str(now),
            "examples": dg.MetadataValue.md("\n".join(f"- {e}" for e in examples) or "none"),
        },
    )


@dg.asset_check(
    asset=dg.AssetKey(ONLINE_ASSET),
    name="online_freshness",
    description=(
        "Every feature row computed offline has been pushed online: no view has rows computed "
        "after its watermark, nor an interrupted materialization."
    ),
)
def online_freshness(warehouse: Warehouse, online_store: OnlineStore) -> dg.AssetCheckResult:
    state = online_store.read_state()
    metadata: dict[str, object] = {}
    behind = []
    with warehouse.connect(read_only=True) as conn:
        for view in FEATURE_VIEWS:
            if not _exists(conn, "features", view.name):
                continue
            watermark = int(state.get(f"watermark:{view.name}", "-1"))
            row = conn.execute(
                f"SELECT count(*), max(event_timestamp) FROM {view.table} "
                "WHERE epoch_us(computed_at) > ?",
                [watermark],
            ).fetchone()
            pending = int(row[0]) if row else 0
            metadata[f"{view.name}_pending_rows"] = pending
            if pending or f"pending:{view.name}" in state:
                behind.append(view.name)
    metadata["views_behind"] = ", ".join(behind) or "none"
    return dg.AssetCheckResult(
        passed=not behind, severity=dg.AssetCheckSeverity.WARN, metadata=metadata
    )


def build_checks() -> list[dg.AssetChecksDefinition]:
    return [*(leakage_check(v) for v in FEATURE_VIEWS), online_offline_parity, online_freshness]
