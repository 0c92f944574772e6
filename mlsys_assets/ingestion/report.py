"""What one ingestion of a source did, per partition: the numbers reconciliation checks."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import pandas as pd

COUNTS = ["received", "accepted", "quarantined", "duplicates"]


@dataclass
class IngestReport:
    source: str
    contract_version: str
    partitions: pd.DataFrame  # partition_key + COUNTS, one row per partition handled
    seconds: float = 0.0
    broken: list[dict[str, str]] = field(default_factory=list)  # whole files/events refused
    extra: dict[str, Any] = field(default_factory=dict)

    def totals(self) -> dict[str, int]:
        return {c: int(self.partitions[c].sum()) for c in COUNTS}

    def balanced(self) -> bool:
        p = self.partitions
        return bool((p.received == p.accepted + p.quarantined + p.duplicates).all())

    def metadata(self) -> dict[str, Any]:
        """Materialization metadata: totals, per-partition table (short ranges), speed."""
        totals = self.totals()
        meta: dict[str, Any] = {
            **totals,
            "dagster/row_count": totals["accepted"],
            "contract_version": self.contract_version,
            "reconciled": self.balanced(),
            "partitions": len(self.partitions),
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(totals["received"] / self.seconds) if self.seconds else 0,
            **self.extra,
        }
        if self.broken:
            meta["refused_files"] = dg.MetadataValue.json(self.broken)
        if 0 < len(self.partitions) <= 62:
            meta["per_partition"] = dg.MetadataValue.md(
                self.partitions.to_markdown(index=False)
                if _has_tabulate()
                else f"```\n{self.partitions.to_string(index=False)}\n```"
            )
        return meta


def count_by_partition(keys: list[str], **frames: pd.Series | pd.DataFrame) -> pd.DataFrame:
    """Counts of rows per ``_partition`` for each named frame, over every key (0 when absent)."""
    out = pd.DataFrame({"partition_key": keys})
    for name, frame in frames.items():
        series = frame["_partition"] if isinstance(frame, pd.DataFrame) else frame
        counts = series.value_counts()
        out[name] = out["partition_key"].map(counts).fillna(0).astype("int64")
    return out


def day_keys(start: dt.date, end: dt.date) -> list[str]:
    return [d.date().isoformat() for d in pd.date_range(start, end, freq="D")]


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True
