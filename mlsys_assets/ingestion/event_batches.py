"""What every event source does with a validated batch: its quarantine rows, its
reconciliation log and the broken events to report. Weather and departures share it, so an
event is accounted for the same way whatever its topic."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd

from mlsys_assets.ingestion.report import count_by_partition
from mlsys_assets.ingestion.store import LOG_COLUMNS, QUARANTINE_COLUMNS
from mlsys_assets.ingestion.validate import PARTITION, Validated

OFFSET = "_offset"  # the event's offset in its topic
POSITION = "_position"  # the segment (or stream) it was read from


@dataclass(frozen=True)
class JudgedEvents:
    quarantine: pd.DataFrame  # raw.quarantine rows
    log: pd.DataFrame  # raw.ingestion_log rows
    counts: pd.DataFrame  # per partition: received, accepted, quarantined, duplicates
    broken: list[dict[str, Any]]  # events refused whole (a bounded list, for the report)


def judge_events(
    source: str,
    contract_version: str,
    keys: list[str],
    raw: pd.DataFrame,
    checked: Validated,
    whole: pd.DataFrame,
    run_id: str,
    now: dt.datetime,
) -> JudgedEvents:
    """``raw``: every buffered event; ``checked``: the contract's verdict on those with the
    right fields; ``whole``: those refused before it (reason and record per event)."""
    bad = pd.concat([checked.bad, whole], ignore_index=True)
    quarantine = pd.DataFrame(
        {
            "source": source,
            "partition_key": bad[PARTITION],
            "source_file": bad[POSITION] + "@" + bad[OFFSET].astype(str),
            "contract_version": contract_version,
            "reason": bad["reason"],
            "record": bad["record"],
            "quarantined_at": now,
        }
    )
    counts = count_by_partition(
        keys,
        received=raw,
        accepted=checked.good,
        quarantined=bad,
        duplicates=checked.duplicates,
    )
    log = counts.assign(source=source, run_id=run_id, ingested_at=now)[LOG_COLUMNS]
    broken = [
        {"event": f"{p}@{o}", "reason": r}
        for p, o, r in zip(whole[POSITION], whole[OFFSET], whole["reason"], strict=True)
    ]
    return JudgedEvents(quarantine[QUARANTINE_COLUMNS], log, counts, broken[:50])
