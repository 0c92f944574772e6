"""Flights: one landing file per local day -> ``raw.flights`` (+ quarantine, log).

All files of a partition range are read in one DuckDB ``read_csv`` call (every value as text,
so a malformed value reaches the contract as it was sent), validated together and written in
one transaction that replaces the range. A file whose header breaks the contract is refused
whole: each of its rows is quarantined with a reason naming the columns. A file DuckDB cannot or
should not read (not UTF-8, NUL bytes, binary garbage, rows cut short, empty) goes through
``landing_bytes.read_lines`` instead: its good rows are validated like any others and every other
line is quarantined with its reason and a bounded excerpt.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import time
from pathlib import Path

import duckdb
import pandas as pd

from mlsys_assets.clock import utc_now
from mlsys_assets.ingestion.contracts import Contract, flights_contract
from mlsys_assets.ingestion.landing_bytes import (
    bounded_record,
    excerpt,
    needs_care,
    read_lines,
)
from mlsys_assets.ingestion.report import IngestReport, count_by_partition, day_keys
from mlsys_assets.ingestion.store import (
    LOG_COLUMNS,
    QUARANTINE_COLUMNS,
    ensure_tables,
    insert_frame,
)
from mlsys_assets.ingestion.validate import PARTITION, PREPARSED, validate
from mlsys_assets.raw_tables import canonical_flights
from mlsys_assets.resources.warehouse import transaction

SOURCE = "flights"
SOURCE_FILE = "_source_file"


def flights_file(landing: Path, day: dt.date) -> Path:
    return landing / "flights" / f"date={day.isoformat()}" / "flights.csv"


def ingest_flights(
    conn: duckdb.DuckDBPyConnection,
    landing: Path,
    start: dt.date,
    end: dt.date,
    run_id: str,
    contract: Contract | None = None,
) -> IngestReport:
    """Replace partitions ``start..end`` of raw.flights with what the landing zone holds now."""
    began = time.perf_counter()
    contract = contract or flights_contract()
    keys = day_keys(start, end)
    paths = {k: flights_file(landing, dt.date.fromisoformat(k)) for k in keys}
    present = {k: p for k, p in paths.items() if p.exists()}
    refused: dict[str, str] = {}
    for key, path in present.items():
        if path.stat().st_size == 0:
            refused[key] = "empty file: no header and no rows"
            continue
        problem = contract.column_problems(_header(path))
        if problem:
            refused[key] = excerpt(problem)  # a garbage header must not make a huge reason
    raw, unreadable, bad_lines = _read(
        {k: p for k, p in present.items() if k not in refused}, landing, contract
    )
    refused.update(unreadable)
    whole = pd.concat(
        [_refused_rows(refused, present, landing, contract.version), bad_lines], ignore_index=True
    )

    checked = validate(contract, raw, row_rules=(_date_matches_partition,))
    now = utc_now()
    good = canonical_flights(checked.good)
    good["source_file"] = checked.good[SOURCE_FILE].to_numpy()
    good["ingested_at"] = now
    bad = pd.concat([_quarantine_frame(checked.bad, contract), whole], ignore_index=True)
    bad["quarantined_at"] = now

    counts = count_by_partition(
        keys,
        received=pd.concat([raw[PARTITION], whole["partition_key"]]),
        accepted=checked.good,
        quarantined=bad["partition_key"].rename(PARTITION),
        duplicates=checked.duplicates,
    )
    log = counts.assign(source=SOURCE, run_id=run_id, ingested_at=now)[LOG_COLUMNS]
    ensure_tables(conn)
    with transaction(conn):
        conn.execute("DELETE FROM raw.flights WHERE flight_date BETWEEN ? AND ?", [start, end])
        conn.execute(
            "DELETE FROM raw.quarantine WHERE source = ? AND partition_key BETWEEN ? AND ?",
            [SOURCE, keys[0], keys[-1]],
        )
        insert_frame(conn, "raw.flights", good)
        insert_frame(conn, "raw.quarantine", bad[QUARANTINE_COLUMNS])
        insert_frame(conn, "raw.ingestion_log", log)
    broken = [
        {"file": str(present[k].relative_to(landing)), "reason": r} for k, r in refused.items()
    ]
    return IngestReport(
        source=SOURCE,
        contract_version=contract.version,
        partitions=counts,
        seconds=time.perf_counter() - began,
        broken=broken,
        extra={"files": len(present), "missing_files": len(keys) - len(present)},
    )


def _header(path: Path) -> list[str]:
    """The first line's fields (bytes that are not UTF-8 shown as U+FFFD: the contract refuses)."""
    with open(path, "rb") as handle:
        first = handle.readline().removesuffix(b"\n").removesuffix(b"\r")
    return next(csv.reader([first.decode("utf-8", errors="replace")]), [])


def _read(
    files: dict[str, Path], landing: Path, contract: Contract
) -> tuple[pd.DataFrame, dict[str, str], pd.DataFrame]:
    """Every file's rows as text, plus ``_partition``/``_source_file``; unusable files apart
    (key -> reason), and the quarantine rows of the lines the careful reader refused.

    Files are grouped by their exact header and each group is read by one ``read_csv`` with the
    columns declared (no per-file sniffing: that is what makes a year of files fast). Files
    whose bytes need care, or that DuckDB refuses, are read line by line instead.
    """
    columns = list(contract.columns) + [PARTITION, SOURCE_FILE]
    groups: dict[tuple[str, ...], dict[str, Path]] = {}
    careful: dict[str, Path] = {}
    for key, path in files.items():
        if needs_care(path.read_bytes()):
            careful[key] = path
        else:
            groups.setdefault(tuple(_header(path)), {})[key] = path
    frames: list[pd.DataFrame] = []
    for header, group in groups.items():
        try:
            frames.append(_read_csvs(list(group.values()), header, contract))
        except duckdb.Error:
            for key, path in group.items():  # find the culprit(s); keep the rest
                try:
                    frames.append(_read_csvs([path], header, contract))
                except duckdb.Error:
                    careful[key] = path
    unreadable: dict[str, str] = {}
    bad_lines = []
    for key, path in careful.items():
        lines = read_lines(path.read_bytes())
        if lines.problem:
            unreadable[key] = lines.problem
            continue
        frames.append(_lines_frame(lines.rows, lines.header, path, contract))
        bad_lines.append(_line_rows(key, path, landing, contract.version, lines.bad))
    bad = (
        pd.concat(bad_lines, ignore_index=True)
        if bad_lines
        else _line_rows("", None, landing, contract.version, [])
    )
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns}), unreadable, bad
    frame = contract.apply_aliases(pd.concat(frames, ignore_index=True))
    partition_of = {str(p): k for k, p in files.items()}
    relative = {str(p): str(p.relative_to(landing)) for p in files.values()}
    frame[PARTITION] = frame["filename"].map(partition_of)
    frame[SOURCE_FILE] = frame["filename"].map(relative)
    preparsed = [c for c in frame.columns if c.startswith(PREPARSED)]
    return frame.reindex(columns=columns + preparsed), unreadable, bad


def _lines_frame(
    rows: list[list[str | None]], header: list[str], path: Path, contract: Contract
) -> pd.DataFrame:
    """The careful reader's rows shaped like ``_read_csvs``'s (text, ``_num_`` casts, filename)."""
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    for column in header:
        if column in contract.integers or column in contract.numbers:
            frame[PREPARSED + column] = pd.to_numeric(frame[column], errors="coerce")
    frame["filename"] = str(path)
    return frame


def _line_rows(
    key: str, path: Path | None, landing: Path, version: str, bad: list[tuple[str, str]]
) -> pd.DataFrame:
    """Quarantine rows (``_refused_rows``'s shape) of the lines a careful read refused."""
    return pd.DataFrame(
        {
            "source": SOURCE,
            "partition_key": key,
            "source_file": str(path.relative_to(landing)) if path else "",
            "contract_version": version,
            "reason": [reason for reason, _ in bad],
            "record": [record for _, record in bad],
        },
        columns=["source", "partition_key", "source_file", "contract_version", "reason", "record"],
    )


def _read_csvs(paths: list[Path], header: tuple[str, ...], contract: Contract) -> pd.DataFrame:
    """Text as sent, plus each numeric column cast by DuckDB (``_num_<column>``, NULL if bad)."""
    declared = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in header) + "}"
    numeric = [c for c in header if c in contract.integers or c in contract.numbers]
    casts = "".join(f', TRY_CAST("{c}" AS DOUBLE) AS "{PREPARSED}{c}"' for c in numeric)
    with duckdb.connect() as conn:
        return conn.execute(
            f"""SELECT *{casts} FROM read_csv(?, columns = {declared}, header = true,
                    auto_detect = false, delim = ',', quote = '"', escape = '"',
                    filename = true, hive_partitioning = false, strict_mode = true)""",
            [[str(p) for p in paths]],
        ).df()


def _refused_rows(
    refused: dict[str, str], present: dict[str, Path], landing: Path, version: str
) -> pd.DataFrame:
    """Each row of each refused file, as received, for the quarantine."""
    frames = []
    for key, reason in refused.items():
        path = present[key]
        lines = read_lines(path.read_bytes())
        records = [
            bounded_record(json.dumps(dict(zip(lines.header, row, strict=True))))
            for row in lines.rows
        ] + [record for _, record in lines.bad]
        if not records:  # an empty file, or a header alone: the file itself is the record
            records = [json.dumps({"file": path.name, "bytes": path.stat().st_size})]
        frames.append(
            pd.DataFrame(
                {
                    "source": SOURCE,
                    "partition_key": key,
                    "source_file": str(path.relative_to(landing)),
                    "contract_version": version,
                    "reason": reason,
                    "record": records,
                }
            )
        )
    columns = ["source", "partition_key", "source_file", "contract_version", "reason", "record"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def _quarantine_frame(bad: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source": SOURCE,
            "partition_key": bad[PARTITION],
            "source_file": bad[SOURCE_FILE],
            "contract_version": contract.version,
            "reason": bad["reason"],
            "record": [bounded_record(record) for record in bad["record"]],
        }
    )


def _date_matches_partition(parsed: pd.DataFrame) -> pd.Series:
    """A row dated another day than its file's partition does not belong in it."""
    date = pd.to_datetime(
        {"year": parsed["year"], "month": parsed["month"], "day": parsed["day"]}, errors="coerce"
    ).dt.strftime("%Y-%m-%d")
    wrong = date.notna() & (date != parsed[PARTITION])
    reasons = pd.Series(pd.NA, index=parsed.index, dtype=object)
    reasons[wrong] = "row dated " + date[wrong] + " is outside its file's partition"
    return reasons
