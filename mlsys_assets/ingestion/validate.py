"""Apply a contract to a batch of raw records: parse, validate, split good from bad.

Every received row ends in exactly one of three places, which is what reconciliation checks:
``good`` (typed, ready for the raw table), ``bad`` (for ``raw.quarantine``, with every reason
found and the record as received) or ``duplicates`` (an exact copy of an earlier row of the same
partition). Nothing here loops over rows in Python except to format the (few) bad ones.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlsys_assets.ingestion.contracts import Contract

if TYPE_CHECKING:
    import pandera.pandas as pa

PARTITION = "_partition"
RECORD = "_record"
PREPARSED = "_num_"
"""``_num_<column>``: the column already parsed as a number by the reader (NaN if not parseable),
which saves parsing text in Python for the bulk of the rows."""

CONTROL_CHARACTERS = r"[\x00-\x08\x0a-\x1f\x7f]"
"""No text value may hold a control character (NUL, escape, a newline, ...): no source sends
one on purpose, and a NUL once reached ``raw.flights.tailnum``. Tab is allowed."""

RowRule = Callable[[pd.DataFrame], pd.Series]
"""Extra row-level rule on the parsed frame: a reason string per failing row (NA when fine)."""


@dataclass
class Validated:
    good: pd.DataFrame  # parsed contract columns + the batch's ``_`` meta columns
    bad: pd.DataFrame  # meta columns + ``reason`` + ``record`` (JSON text)
    duplicates: pd.DataFrame  # meta columns of the dropped exact duplicates


def validate(
    contract: Contract, raw: pd.DataFrame, *, row_rules: tuple[RowRule, ...] = ()
) -> Validated:
    """Split ``raw`` (contract columns as received, plus ``_``-prefixed meta columns)."""
    meta = [c for c in raw.columns if c.startswith("_") and not c.startswith(PREPARSED)]
    columns = list(contract.columns)
    raw = raw.reset_index(drop=True)
    dup_subset = [PARTITION] if PARTITION in raw.columns else []
    dup_subset += [RECORD] if RECORD in raw.columns else columns
    is_dup = raw.duplicated(subset=dup_subset, keep="first")
    duplicates = raw.loc[is_dup, meta]
    batch = raw.loc[~is_dup]

    parsed, reasons = _parse(contract, batch)
    for rule in row_rules:
        found = rule(parsed)
        for index, reason in found.dropna().items():
            reasons[index].append(reason)
    clean = parsed.drop(index=list(reasons))
    for index, reason in _schema_failures(contract.schema, clean[columns]).items():
        reasons[index].extend(reason)

    bad_index = sorted(reasons)
    bad = batch.loc[bad_index, meta].copy()
    bad["reason"] = ["; ".join(dict.fromkeys(reasons[i])) for i in bad_index]
    bad["record"] = _records(batch.loc[bad_index])
    good = parsed.drop(index=bad_index)
    return Validated(good=good, bad=bad, duplicates=duplicates)


def _parse(contract: Contract, batch: pd.DataFrame) -> tuple[pd.DataFrame, defaultdict]:
    """Typed columns; a reason for every value present but unparseable."""
    reasons: defaultdict[int, list[str]] = defaultdict(list)
    out: dict[str, pd.Series] = {}
    for column in contract.columns:
        values = batch[column]
        if column in contract.integers or column in contract.numbers:
            preparsed = PREPARSED + column
            if preparsed in batch.columns:
                number = batch[preparsed].astype("float64")
            else:
                number = pd.to_numeric(values, errors="coerce")
            failed = values.notna() & number.isna()
            if column in contract.integers:
                fractional = number.notna() & (number % 1 != 0)
                failed |= fractional
                number = number.where(~fractional).astype("Int64")
            else:
                number = number.astype("float64")
            out[column] = number
        elif column in contract.timestamps:
            stamp = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
            failed = values.notna() & stamp.isna()
            out[column] = stamp
        else:
            text = values.astype(object).where(values.notna(), None)
            if pd.api.types.infer_dtype(text, skipna=True) in ("string", "empty"):
                failed = pd.Series(False, index=text.index)
            else:
                failed = text.map(lambda v: v is not None and not isinstance(v, str))
            control = text.str.contains(CONTROL_CHARACTERS, regex=True, na=False).astype(bool)
            for index, value in text[control & ~failed].items():
                reasons[index].append(f"{column}: control character in value {_short(value)!r}")
            out[column] = text.where(~failed, None).astype("string")
        for index, value in values[failed].items():
            reasons[index].append(f"{column}: unparseable value {_short(value)!r}")
    parsed = pd.DataFrame(out, index=batch.index)
    for column in batch.columns:
        if column.startswith("_") and not column.startswith(PREPARSED):
            parsed[column] = batch[column]
    return parsed, reasons


def _short(value: Any, limit: int = 80) -> Any:
    """A value as a reason may quote it: long text cut (a reason is never a megabyte)."""
    return value[:limit] + "..." if isinstance(value, str) and len(value) > limit else value


def _schema_failures(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> dict[int, list[str]]:
    """pandera's failure cases, lazily collected, as reasons per row index."""
    import pandera.pandas as pa  # imported by ingestion runs only (it is slow to import)

    found: dict[int, list[str]] = defaultdict(list)
    if frame.empty:
        return found
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        for case in cases.itertuples(index=False):
            check = str(case.check)
            if check == "multiple_fields_uniqueness":
                reason = f"duplicate natural key {list(schema.unique or [])}"
            else:
                reason = f"{case.column}: {check} failed for {case.failure_case!r}"
            if case.index is None or (isinstance(case.index, float) and np.isnan(case.index)):
                for index in frame.index:  # a column-level failure condemns every row
                    found[index].append(reason)
            else:
                found[int(case.index)].append(reason)
    return found


def _records(frame: pd.DataFrame) -> list[str]:
    """Each row as received, as JSON (the original text when the batch carries it)."""
    if RECORD in frame.columns:
        return list(frame[RECORD])
    rows = frame[[c for c in frame.columns if not c.startswith("_")]].to_dict("records")
    return [json.dumps({k: _json_value(v) for k, v in row.items()}) for row in rows]


def _json_value(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value
